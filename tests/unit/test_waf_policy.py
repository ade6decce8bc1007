"""The waf policy kind at build time: OSS (ModSecurity) and Plus (App Protect) output, checks."""

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


def build(tmp_path: Path, policies: dict, target: dict | None = None, api_extra: dict | None = None):
    policy = {
        "target": target or {"flavor": "oss", "version": "1.22"},
        "gateway": {"listen": "127.0.0.1:8080"},
        "upstreams": {"b": {"servers": [{"address": "127.0.0.1:9000"}]}},
        "policies": policies,
        "apis": [{"name": "api", "spec": str(PETSTORE), "upstream": "b", "use": ["waf"], **(api_extra or {})}],
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    return compile_policy(path)


def parsed(tmp_path: Path, bundle, target: Target):
    out = tmp_path / "out"
    bundle.write_tree(out)
    result = parse_bundle(out)
    assert result.ok, result.errors
    assert check_directives_for_target(result.payload, target) == []
    return out


def test_oss_output(tmp_path: Path) -> None:
    policies = {
        "waf": {"kind": "waf", "paranoia_level": 3, "anomaly_threshold": 10, "mode": "detection"},
        "waf-ex": {"kind": "waf", "exclude_rules": [942100, 920350]},
    }
    result = build(tmp_path, policies, api_extra={"operations": {"createPet": {"use": ["waf-ex"]}}})
    out = parsed(tmp_path, result.bundle, Target.parse("oss", "1.22"))
    main = (out / "nginx.conf").read_text()
    assert 'load_module "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so";' in main
    server = (out / "api_gateway.conf").read_text()
    assert server.count("Include /usr/share/modsecurity-crs/rules/*.conf") == 1  # loaded once
    assert "modsecurity_transaction_id $apigen_request_id;" in server
    conf = (out / "api_conf.d" / "api.conf").read_text()
    _, create = operation_location(conf, "api", "createPet")
    assert "ctl:ruleRemoveById=920350,ctl:ruleRemoveById=942100" in create
    assert 'modsecurity_rules "SecRuleEngine On";' in create
    assert 'error_page 403 = "@apigen_waf_403";' in create and 'error_page 401 = "@apigen_error_401";' in create
    _, show = operation_location(conf, "api", "showPetById")
    assert 'modsecurity_rules "SecRuleEngine DetectionOnly";' in show
    assert "tx.paranoia_level=3" in show and "tx.inbound_anomaly_score_threshold=10" in show
    assert (out / "njs" / "apigen_waf.js").is_file()


def test_plus_output_is_app_protect(tmp_path: Path) -> None:
    policies = {"waf": {"kind": "waf", "exclude_rules": [200001834], "app_protect_log": "syslog:server=127.0.0.1:514"}}
    result = build(tmp_path, policies, target={"flavor": "plus", "version": "R33"})
    out = parsed(tmp_path, result.bundle, Target.parse("plus", "R33"))
    conf = (out / "api_conf.d" / "api.conf").read_text()
    assert "modsecurity" not in conf + (out / "api_gateway.conf").read_text()
    assert 'app_protect_policy_file "waf/waf.app_protect.json";' in conf
    assert 'app_protect_security_log "/etc/app_protect/conf/log_default.json" "syslog:server=127.0.0.1:514";' in conf
    assert 'load_module "/usr/lib/nginx/modules/ngx_http_app_protect_module.so";' in (out / "nginx.conf").read_text()
    ap = json.loads((out / "waf" / "waf.app_protect.json").read_text())["policy"]
    assert ap["enforcementMode"] == "blocking"
    assert ap["signatures"] == [{"signatureId": 200001834, "enabled": False}]


def test_app_protect_directives_are_plus_only(tmp_path: Path) -> None:
    result = build(tmp_path, {"waf": {"kind": "waf"}}, target={"flavor": "plus", "version": "R33"})
    out = tmp_path / "out"
    result.bundle.write_tree(out)
    errors = check_directives_for_target(parse_bundle(out).payload, Target.parse("oss", "1.22"))
    assert errors and all("NGINX Plus" in e.message for e in errors)


def test_shared_settings_must_agree(tmp_path: Path) -> None:
    policies = {
        "waf": {"kind": "waf", "audit_log": "/var/log/a.log"},
        "waf2": {"kind": "waf", "audit_log": "/var/log/b.log"},
    }
    with pytest.raises(CompileError) as info:
        build(tmp_path, policies)
    assert any("audit_log must be the same in every waf policy" in d.message for d in info.value.diagnostics.errors)


def test_schema_rejects_bad_paranoia(tmp_path: Path) -> None:
    with pytest.raises(CompileError):
        build(tmp_path, {"waf": {"kind": "waf", "paranoia_level": 5}})


@pytest.mark.parametrize(
    ("target", "config", "keys"),
    [
        (
            {"flavor": "plus", "version": "R33"},
            {"paranoia_level": 4, "anomaly_threshold": 50, "crs_path": "/opt/crs", "audit_log": "/var/log/a.log"},
            ["paranoia_level", "anomaly_threshold", "crs_path", "audit_log"],
        ),
        ({"flavor": "oss", "version": "1.22"}, {"app_protect_log": "stderr"}, ["app_protect_log"]),
    ],
    ids=["modsecurity-keys-on-plus", "app-protect-log-on-oss"],
)
def test_other_engines_settings_warn(tmp_path: Path, target: dict, config: dict, keys: list[str]) -> None:
    """Settings only the other target's WAF engine reads are warnings at their key (found by a hunt:
    paranoia_level/anomaly_threshold on Plus and app_protect_log on OSS were dropped silently)."""
    result = build(tmp_path, {"waf": {"kind": "waf", **config}}, target=target)
    warned = [d for d in result.diagnostics.warnings if "setting; NGINX" in d.message]
    assert [d.message.split(" ", 1)[0] for d in warned] == keys, [d.format() for d in warned]
    assert all(d.position is not None and d.position.line for d in warned)


@pytest.mark.parametrize(
    ("use", "limit"),
    [
        ({}, 13107200),  # every operation at the gateway's 1m: ModSecurity's defaults
        ({"createPet": {"use": ["big"]}}, 52428800),  # a WAF operation accepting 50m
        ({"createPet": {"use": ["big"], "skip": ["waf"]}}, 13107200),  # not a WAF operation
        ({"createPet": {"use": ["unlimited"]}}, 13107200),  # no limit: above it, uninspected
    ],
)
def test_modsecurity_inspects_every_body_a_waf_operation_accepts(tmp_path: Path, use: dict, limit: int) -> None:
    """A body above SecRequestBodyNoFilesLimit (1 MiB) was neither inspected nor rejected: a SQL
    injection after 1 MiB of JSON padding passed (found by a hunt; tests/live/test_waf_live.py)."""
    policies = {
        "waf": {"kind": "waf"},
        "big": {"kind": "body_limit", "max": "50m"},
        "unlimited": {"kind": "body_limit", "max": 0},
    }
    result = build(tmp_path, policies, api_extra={"operations": use})
    conf = (parsed(tmp_path, result.bundle, Target.parse("oss", "1.22")) / "api_gateway.conf").read_text()
    assert f'modsecurity_rules "SecRequestBodyLimit {limit}";' in conf
    assert f'modsecurity_rules "SecRequestBodyNoFilesLimit {limit}";' in conf
