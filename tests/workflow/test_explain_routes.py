"""`apigen explain` and `apigen routes`: routing decisions match the compiler's route table;
effective policies come with their origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from apigen.explain import normalise_uri, resolve
from apigen.pipeline import compile_policy
from tests.workflow.helpers import BOX, PETSTORE, box_policy, edit, petstore_copy, run, run_json


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("/v1/pets", "/v1/pets"),
        ("http://api.example.com/v1//pets/./12?x=1#f", "/v1/pets/12"),
        ("/v1/pets/%31%32", "/v1/pets/12"),
        ("/v1/pets/12/../mine", "/v1/pets/mine"),
        ("/v1/pets/", "/v1/pets/"),
        ("/v1/pets/12/..", "/v1/pets/"),  # nginx keeps the slash of a final dot segment
        ("/v1/pets/.", "/v1/pets/"),
        ("", "/"),
    ],
)
def test_normalise_uri(url: str, uri: str) -> None:
    assert normalise_uri(url) == uri


def test_explain_reaches_operation_with_policies_in_phase_order() -> None:
    code, doc = run_json("explain", "GET", "/v1/pets/12", "--policy", "examples/petstore/policy.yaml",
                         "--format", "json")
    assert code == 0 and doc["status"] == 200
    assert (doc["api"], doc["operation"]) == ("pets", "showPetById")
    assert doc["location"].startswith("^~ /v1/pets/ > $apigen_rg") and doc["location"].endswith(" ~ ^/v1/pets/[^/]+$")
    # Shared with the operations whose location renders the same; named by the first of them.
    assert doc["internal_location"] == "@apigen_op/pets/listPets"
    assert [p["name"] for p in doc["policies"]] == ["no-server-header"]
    assert doc["policies"][0]["origin"]["line"] == 33  # `use: [no-server-header]` of the API
    phases = list(doc["phases"])
    # No rewrite phase: the location no longer `set`s the operation (it comes from a map).
    assert phases == ["content", "response"]
    assert doc["phases"]["content"][-1] == "proxy_pass http://pets"
    assert "proxy_hide_header Server" in doc["phases"]["response"]


def test_explain_405_and_404() -> None:
    proc = run("explain", "DELETE", "/v1/pets/mine", "-p", "examples/petstore/policy.yaml")
    assert proc.returncode == 1
    assert "405 Method Not Allowed; Allow: GET, HEAD" in proc.stdout
    code, doc = run_json("explain", "GET", "/v1/unknown", "-p", "examples/petstore/policy.yaml", "--format", "json")
    assert code == 1 and doc["status"] == 404 and doc["location"] == "^~ /v1/"
    code, doc = run_json("explain", "GET", "/_apigen/op/pets/listPets", "-p", "examples/petstore/policy.yaml",
                         "--format", "json")
    assert code == 1 and doc["status"] == 404


@pytest.mark.parametrize(
    "url", ["v1/pets", "api.example.com/v1/pets", "*", "", "/v1/pets/1 2", "/v1/pets/1\t2", "/v1/pets/1\x7f",
            "v1/pets?next=http://api.example.com/v1/pets"],
)
def test_a_target_nginx_refuses_is_400_not_a_route(url: str) -> None:
    """Found by a hunt (each sent to a live nginx 1.22: 400): a path without its leading `/` (or a
    URL without its scheme) was predicted as the gateway's 404, a raw space or control character
    as the operation."""
    petstore = compile_policy(PETSTORE / "policy.yaml", render=False).plan
    res = resolve(petstore, "GET", url)
    assert (res.status, res.operation, res.location) == (400, None, "(none)"), res
    assert resolve(petstore, "GET", "http://api.example.com/v1/pets").status == 200
    assert resolve(petstore, "GET", "/v1/pets/a%202").status == 200


def test_explain_without_the_leading_slash_says_400() -> None:
    code, doc = run_json("explain", "GET", "v1/pets", "-p", "examples/petstore/policy.yaml", "--format", "json")
    assert code == 1 and doc["status"] == 400 and "request target" in doc["notes"][0], doc


def _check_every_route_resolves(policy: Path) -> int:
    result = compile_policy(policy, render=False)
    checked = 0
    for route, method, op in result.plan.routes.operations():
        url = route.template.sample("zz9")
        res = resolve(result.plan, method, url)
        assert res.status == 200, (method, url, res)
        assert res.route is route
        assert (res.operation.api, res.operation.operation_id) == (op.api, op.operation_id)
        checked += 1
    return checked


def test_every_petstore_route_resolves_to_its_operation() -> None:
    assert _check_every_route_resolves(PETSTORE / "policy.yaml") == 13  # 8 operations + 5 implied HEADs


@pytest.mark.skipif(not BOX.is_file(), reason="corpus not present (tests/corpus)")
def test_every_box_route_resolves_to_its_operation(tmp_path: Path) -> None:
    policy = box_policy(tmp_path)
    assert _check_every_route_resolves(policy) > 300


def test_routes_show_effective_policies_and_origins(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    edit(policy, "    use: [no-server-header]\n",
         "    use: [no-server-header]\n    tags:\n      admin: {skip: [headers], timeouts: {read: 5s}}\n")
    code, rows = run_json("routes", policy, "--format", "json")
    assert code == 0
    by_op = {r["operation"]: r for r in rows}
    assert [p["name"] for p in by_op["listPets"]["policies"]] == ["no-server-header"]
    origin = by_op["listPets"]["policies"][0]["origin"]
    assert origin["path"] == "apis[0]" and origin["line"] == 33
    assert by_op["deletePet"]["policies"] == []  # the admin tag skips the headers kind
    assert by_op["deletePet"]["timeouts"] == {"connect": "2s", "read": "5s"}
    assert by_op["listPets"]["upstream_origin"] == "api"
    text = run("routes", policy)
    assert "POLICIES" in text.stdout.splitlines()[0]
    assert "no-server-header(headers)@api" in text.stdout


def test_a_policy_that_does_nothing_on_an_operation_is_listed_apart(tmp_path: Path) -> None:
    """A cache attached to a whole API caches GET and HEAD only: routes and explain listed it on
    POST and DELETE as if it applied (noticed in the fifth session)."""
    policy = petstore_copy(tmp_path)
    edit(policy, "policies:\n", "policies:\n  pages: {kind: cache}\n")
    edit(policy, "    use: [no-server-header]\n", "    use: [no-server-header, pages]\n")
    code, rows = run_json("routes", policy, "--format", "json")
    assert code == 0
    by_op = {r["operation"]: r for r in rows}
    assert "pages" in [p["name"] for p in by_op["listPets"]["policies"]] and by_op["listPets"]["inactive_policies"] == []
    assert "pages" not in [p["name"] for p in by_op["createPet"]["policies"]]
    assert [(p["name"], p["reason"]) for p in by_op["createPet"]["inactive_policies"]] == [("pages", "caches GET and HEAD only")]
    text = run("explain", "POST", "/v1/pets", "-p", policy).stdout
    assert "pages (cache) from api: not applied, caches GET and HEAD only" in text, text


def test_routes_name_the_location_of_paths_longer_than_nginx_location_names(tmp_path: Path) -> None:
    """Routes matched under a cut-back prefix (paths over 255 bytes) were listed at location `?`
    (found by a hunt); explain named the right one."""
    long = "/" + "a" * 260
    (tmp_path / "openapi.yaml").write_text(
        'openapi: 3.0.3\ninfo: {title: t, version: "1"}\npaths:\n'
        f"  {long}:\n    get: {{operationId: long, responses: {{'200': {{description: ok}}}}}}\n"
        f"  {long}/{{id}}:\n    get: {{operationId: longid, parameters: [{{name: id, in: path, required: true, schema: {{type: string}}}}],"
        " responses: {'200': {description: ok}}}\n"
    )
    (tmp_path / "policy.yaml").write_text(
        "gateway: {listen: 8080}\nupstreams: {u: {servers: [{address: 127.0.0.1:9001}]}}\n"
        "apis:\n  - {name: a, spec: openapi.yaml, upstream: u}\n"
    )
    code, rows = run_json("routes", tmp_path / "policy.yaml", "--format", "json")
    assert code == 0 and len(rows) == 2
    for row, url in zip(sorted(rows, key=lambda r: r["operation"]), (long, long + "/7"), strict=True):
        assert row["location"].startswith("^~ / > ~ ^/aaaa"), row
        code, doc = run_json("explain", "GET", url, "-p", tmp_path / "policy.yaml", "--format", "json")
        assert doc["operation"] == row["operation"]


def test_a_url_that_is_no_url_is_a_usage_error() -> None:
    proc = run("explain", "GET", "http://[::1", "-p", "examples/petstore/policy.yaml")
    assert proc.returncode == 2, proc.stderr
    assert "Invalid value for URL" in proc.stderr and "Traceback" not in proc.stderr


def test_a_reader_that_goes_away_is_not_an_apigen_bug(tmp_path: Path) -> None:
    """`apigen routes | head -1`: what the commands print goes through console.data, which ends
    quietly (141, like a tool killed by SIGPIPE) instead of "internal error ... a bug in apigen"
    (explain | head did that). 1 MB to a pipe whose reader has gone: EPIPE for sure."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run(
        [sys.executable, "-c", "from apigen.console import data; data('x' * 10**6)"],
        stdout=write, stderr=subprocess.PIPE, timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == b""


def test_explain_agrees_with_nginx_on_hosts_guarded_apis_and_preflights() -> None:
    """Found by a hunt (each compared with a live nginx): an unknown Host is closed with 444; a
    guarded API's unknown paths and methods authenticate first; OPTIONS on a CORS route is a
    preflight when the browser asks for a method."""
    petstore = compile_policy(PETSTORE / "policy.yaml").plan
    res = resolve(petstore, "GET", "http://unknown.example/v1/pets")
    assert (res.status, res.location) == (444, "(default server)")
    assert resolve(petstore, "GET", "http://API.Example.com./v1/pets").status == 200  # names ignore case, final dot
    secured = compile_policy(PETSTORE.parent / "secured" / "policy.yaml").plan
    for method, url, status, where in (("GET", "/inventory/nothing", 404, "@apigen_unmatched/inventory/404"),
                                       ("DELETE", "/inventory/items", 405, "@apigen_unmatched/inventory/405")):
        res = resolve(secured, method, url)
        assert (res.status, res.location) == (status, where)
        assert any("401/403" in n for n in res.notes)
    traffic = compile_policy(PETSTORE.parent / "traffic" / "policy.yaml").plan
    res = resolve(traffic, "OPTIONS", "/v1/pets/1")
    assert res.status == 405 and any("preflight" in n and "PUT, DELETE" in n for n in res.notes)


def test_explain_text_of_trace_and_of_decoded_control_characters() -> None:
    """Found by a hunt: TRACE (answered by nginx before routing) printed "route None" and an
    empty "Allow: "; a percent-encoded control character reached the terminal decoded (`%1b` an
    escape sequence)."""
    proc = run("explain", "TRACE", "/v1/pets", "-p", "examples/petstore/policy.yaml")
    assert proc.returncode == 1
    assert "None" not in proc.stdout and "Allow:" not in proc.stdout, proc.stdout
    assert "405 Method Not Allowed\n" in proc.stdout
    proc = run("explain", "GET", "/v1/pets/%1b[2J%00", "-p", "examples/petstore/policy.yaml")
    assert proc.returncode == 1
    assert "\x1b" not in proc.stdout and "\x00" not in proc.stdout
    assert proc.stdout.startswith("GET /v1/pets/\\x1b[2J\\x00\n"), proc.stdout
