"""The validation policy kind at build time: diagnostics for unsupported keywords, determinism,
and the generated locations (js_content in the operation, proxy_pass in the forwarding one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apigen.diagnostics import CompileError
from apigen.pipeline import compile_policy
from apigen.targets import Target
from apigen.verify import check_directives_for_target, parse_bundle
from tests.support.locations import operation_location

REPO = Path(__file__).resolve().parents[2]
PETSTORE = REPO / "examples" / "petstore" / "openapi.yaml"

SPEC = """\
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /things:
    post:
      operationId: createThing
      requestBody:
        content:
          application/json:
            schema:
              type: array
              contains: {type: string}
      responses:
        "200": {description: ok}
"""


def write_policy(tmp_path: Path, spec: Path, validation: dict, target: dict | None = None) -> Path:
    policy = {
        "gateway": {"listen": "127.0.0.1:8080"},
        "upstreams": {"b": {"servers": [{"address": "127.0.0.1:9000"}]}},
        "policies": {"v": {"kind": "validation", **validation}},
        "apis": [{"name": "api", "spec": str(spec), "upstream": "b", "use": ["v"]}],
    }
    if target:
        policy["target"] = target
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    return path


def test_unsupported_keyword_is_an_error_at_the_spec_line(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    with pytest.raises(CompileError) as info:
        compile_policy(write_policy(tmp_path, spec, {}))
    errors = info.value.diagnostics.errors
    assert len(errors) == 1
    assert "api.createThing cannot check contains" in errors[0].message
    assert errors[0].position.file.endswith("spec.yaml")
    assert errors[0].position.line == 11  # the schema holding `contains`


def test_unsupported_keyword_warns_when_asked(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    result = compile_policy(write_policy(tmp_path, spec, {"unsupported_keywords": "warn"}))
    assert [w.message for w in result.diagnostics.warnings] == [
        "request validation of api.createThing cannot check contains (not checked)"
    ]
    assert result.bundle is not None


def test_bundle_is_deterministic_and_parses(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, PETSTORE, {"mode": "report"})
    first = compile_policy(policy).bundle
    second = compile_policy(policy).bundle
    assert first is not None and second is not None
    assert first.files == second.files
    out = tmp_path / "out"
    first.write_tree(out)
    parsed = parse_bundle(out)
    assert parsed.ok, parsed.errors
    assert check_directives_for_target(parsed.payload, Target.parse("oss", "1.22")) == []
    conf = (out / "api_conf.d" / "api.conf").read_text()
    uri, op_block = operation_location(conf, "api", "createPet")
    assert "js_content apigen_validation.handle;" in op_block
    assert "proxy_pass" not in op_block
    fwd_block = conf.split(f'location "@apigen_fwd{uri}" {{', 1)[1].split("}", 1)[0]
    assert "proxy_pass http://b;" in fwd_block
    assert "js_content" not in fwd_block
    module = (out / "njs" / "apigen_validation.js").read_text()
    assert 'case "api.createPet": return {' in module
    assert 'mode: "report"' in module


def test_mode_off_adds_nothing(tmp_path: Path) -> None:
    bundle = compile_policy(write_policy(tmp_path, PETSTORE, {"mode": "off"})).bundle
    assert bundle is not None
    conf = bundle.files["api_conf.d/api.conf"]
    assert "js_content" not in str(conf) and "@apigen_fwd" not in str(conf)


def test_plus_target_checks(tmp_path: Path) -> None:
    bundle = compile_policy(write_policy(tmp_path, PETSTORE, {}, {"flavor": "plus", "version": "R33"})).bundle
    assert bundle is not None
    out = tmp_path / "plus"
    bundle.write_tree(out)
    parsed = parse_bundle(out)
    assert parsed.ok
    assert check_directives_for_target(parsed.payload, Target.parse("plus", "R33")) == []


def test_invalid_mode_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(CompileError) as info:
        compile_policy(write_policy(tmp_path, PETSTORE, {"mode": "block"}))
    assert any("mode" in d.format() for d in info.value.diagnostics.errors)


def test_secure_example_builds(tmp_path: Path) -> None:
    result = compile_policy(REPO / "examples" / "petstore" / "secure.yaml")
    assert result.bundle is not None
    assert not result.diagnostics.errors
    out = tmp_path / "secure"
    result.bundle.write_tree(out)
    parsed = parse_bundle(out)
    assert parsed.ok, parsed.errors
    assert check_directives_for_target(parsed.payload, Target.parse("oss", "1.22")) == []
    conf = (out / "api_conf.d" / "pets.conf").read_text()
    _, create = operation_location(conf, "pets", "createPet")
    assert "ctl:ruleRemoveById=942100" in create and "js_content apigen_validation.handle;" in create
