"""WAF with a real nginx, ModSecurity and the OWASP CRS (Debian packages): attacks get a JSON 403
whose request id is in the audit log, normal requests pass, an exclusion lets a false positive
through, detection mode only logs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.live.validation_support import PETSTORE, build_gateway, nginx_t_ok
from tests.support.http import request
from tests.support.nginx import requires_nginx

MODULE = Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so")
CRS = Path("/usr/share/modsecurity-crs/rules")
missing = [str(p) for p in (MODULE, CRS) if not p.exists()]

pytestmark = [
    pytest.mark.live,
    requires_nginx,
    pytest.mark.skipif(
        bool(missing) and not os.environ.get("CI"),
        reason=f"ModSecurity not installed ({', '.join(missing)}): apt-get install libnginx-mod-http-modsecurity modsecurity-crs",
    ),
]

SQLI = "/v1/pets?limit=1%27%20OR%20%271%27%3D%271"
TRAVERSAL = "/v1/pets?file=..%2F..%2F..%2Fetc%2Fpasswd"
# A pet name that reads like SQL to libinjection: CRS 942100 alone scores 5, the threshold.
FALSE_POSITIVE = b'{"name": "Rex\' --"}'


def audit_entries(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line)["transaction"] for line in path.read_text().splitlines() if line.strip()]


def audit_entry(path: Path, request_id: str, timeout: float = 5.0) -> dict:
    """The audit entry of one request (written in nginx's log phase, after the response)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in audit_entries(path) if e["unique_id"] == request_id]
        if found or time.monotonic() > deadline:
            assert found, f"no audit entry for {request_id} in {path}"
            return found[0]
        time.sleep(0.05)


@pytest.fixture
def gateway(tmp_path, echo_backend, nginx_runner):
    def start(policies: dict, api_extra: dict | None = None, gateway_use: list[str] | None = None):
        backend = echo_backend("pets")
        audit = tmp_path / "audit.log"
        for p in policies.values():
            if p["kind"] == "waf":
                p["audit_log"] = str(audit)
        api = {"name": "pets", "spec": str(PETSTORE), "base_path": "/v1", **(api_extra or {})}
        bundle, port = build_gateway(tmp_path, backend.address, policies, [api], gateway_use)
        nginx_t_ok(bundle)
        return nginx_runner(bundle, port), audit

    return start


def test_attacks_blocked_with_json_403_and_audit_entry(gateway) -> None:
    gw, audit = gateway({"waf": {"kind": "waf"}}, {"use": ["waf"]})
    assert request("GET", f"{gw.url}/v1/pets?limit=5").status == 200
    r = request("POST", f"{gw.url}/v1/pets", headers={"Content-Type": "application/json"}, body=b'{"name": "Rex"}')
    assert (r.status, r.json()["body"]) == (200, '{"name": "Rex"}')
    for target, rule_prefix in ((SQLI, "942"), (TRAVERSAL, "930")):
        r = request("GET", gw.url + target, headers={"X-Request-ID": f"attack-{rule_prefix}"})
        assert r.status == 403, r.text
        assert r.json() == {"status": 403, "error": "Forbidden", "request_id": f"attack-{rule_prefix}"}
        assert r.headers["X-Request-ID"] == f"attack-{rule_prefix}"
    for rule_prefix in ("942", "930"):
        entry = audit_entry(audit, f"attack-{rule_prefix}")
        rules = [m["details"]["ruleId"] for m in entry["messages"]]
        assert any(r.startswith(rule_prefix) for r in rules), rules
    blocked = gw.error_log()
    assert 'unique_id "attack-942"' in blocked and "Access denied with code 403" in blocked


def test_exclusion_lets_a_false_positive_through(gateway) -> None:
    policies = {"waf": {"kind": "waf"}, "waf-names": {"kind": "waf", "exclude_rules": [942100]}}
    gw, _ = gateway(policies, {"use": ["waf"], "operations": {"createPet": {"use": ["waf-names"]}}})
    headers = {"Content-Type": "application/json"}
    r = request("POST", f"{gw.url}/v1/pets", headers=headers, body=FALSE_POSITIVE)
    assert r.status == 200, r.text
    assert r.json()["body"].encode() == FALSE_POSITIVE
    # The same body on an operation without the exclusion is still blocked ...
    assert request("PUT", f"{gw.url}/v1/pets/1", headers=headers, body=FALSE_POSITIVE).status == 403
    # ... and the excluded operation still blocks other attacks.
    assert (
        request("POST", f"{gw.url}/v1/pets?x=..%2F..%2Fetc%2Fpasswd", headers=headers, body=b'{"name":"a"}').status
        == 403
    )


def test_detection_mode_logs_only(gateway) -> None:
    policies = {"waf": {"kind": "waf", "mode": "detection"}}
    gw, audit = gateway(policies, {"use": ["waf"]})
    r = request("GET", gw.url + SQLI, headers={"X-Request-ID": "detect-1"})
    assert r.status == 200
    assert r.json()["uri"] == SQLI
    rules = [m["details"]["ruleId"] for m in audit_entry(audit, "detect-1")["messages"]]
    assert "949110" in rules and any(r.startswith("942") for r in rules)


def test_waf_off_for_skipped_operation(gateway) -> None:
    gw, _ = gateway({"waf": {"kind": "waf"}}, {"use": ["waf"], "operations": {"listPets": {"skip": ["waf"]}}})
    assert request("GET", gw.url + SQLI).status == 200
    assert request("GET", f"{gw.url}/v1/pets/1?x=%27%20OR%20%271%27%3D%271").status == 403


def test_waf_then_validation(gateway) -> None:
    policies = {"waf": {"kind": "waf"}, "validate": {"kind": "validation"}}
    gw, _ = gateway(policies, {"use": ["waf", "validate"]})
    assert request("GET", gw.url + SQLI).status == 403  # the WAF answers first
    r = request("GET", f"{gw.url}/v1/pets?limit=abc")
    assert (r.status, r.json()["violations"]) == (400, ["/query/limit: expected integer"])
    body = b'{"name": "Rex", "tag": "dog"}'
    r = request("POST", f"{gw.url}/v1/pets", headers={"Content-Type": "application/json"}, body=body)
    assert (r.status, r.json()["body"].encode()) == (200, body)


def test_other_errors_of_a_waf_operation_and_the_waf_403_are_the_gateways(gateway, tmp_path) -> None:
    """A WAF location restates the server's error pages: it sent them to `@apigen_<status>`,
    which did not exist (HTML 500 for a missing key, a rate limit, a dropped upstream), and its
    403 ignored the errors template and the operation's CORS headers (found by a hunt)."""
    (tmp_path / "keys.txt").write_text("alice: s3cr3tkeyAAAAAAAAAAAA\n")
    template = '{"error": {"code": {status}, "message": {message}}, "trace": {request_id}}'
    policies = {
        "waf": {"kind": "waf"},
        "keys": {"kind": "api_key", "keys_file": str(tmp_path / "keys.txt")},
        "slow": {"kind": "rate_limit", "rate": "1r/m"},
        "web": {"kind": "cors", "origins": ["https://app.example.com"]},
        "json": {"kind": "errors", "template": template},
    }
    api = {"use": ["waf", "web"], "operations": {"showPetById": {"use": ["keys"]}, "listPets": {"use": ["slow"]}}}
    gw, _ = gateway(policies, api, gateway_use=["json"])
    r = request("GET", f"{gw.url}/v1/pets/1")
    assert (r.status, r.json()["error"]["code"], r.headers.get("WWW-Authenticate", "")[:6]) == (401, 401, "ApiKey")
    assert request("GET", f"{gw.url}/v1/pets").status == 200
    r = request("GET", f"{gw.url}/v1/pets")
    assert (r.status, r.json()["error"]["code"], r.headers["Retry-After"]) == (429, 429, "60")
    r = request("GET", gw.url + TRAVERSAL.replace("pets", "pets/1"), headers={"X-API-Key": "s3cr3tkeyAAAAAAAAAAAA", "Origin": "https://app.example.com", "X-Request-ID": "waf-t"})
    assert r.status == 403, r.text
    assert r.json() == {"error": {"code": 403, "message": "Forbidden"}, "trace": "waf-t"}
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Content-Type"] == "application/json" and r.headers["X-Request-ID"] == "waf-t"


def test_a_body_above_one_mib_is_inspected_where_the_operation_accepts_it(gateway) -> None:
    """ModSecurity neither inspected nor rejected a body without files above its 1 MiB
    SecRequestBodyNoFilesLimit: a SQL injection after 1 MiB of JSON padding reached an operation
    whose body_limit allows 5m (found by a hunt). The limits are now the largest body a WAF
    operation accepts."""
    policies = {"waf": {"kind": "waf"}, "big": {"kind": "body_limit", "max": "5m"}}
    gw, _ = gateway(policies, {"use": ["waf"], "operations": {"createPet": {"use": ["big"]}}})
    headers = {"Content-Type": "application/json", "X-Request-ID": "padded-1"}
    attack = "1' UNION SELECT password FROM users -- "
    for padding in (10, 1_100_000, 2_000_000):
        body = json.dumps({"name": "Rex", "notes": "a" * padding, "tag": attack}).encode()
        r = request("POST", f"{gw.url}/v1/pets", headers=headers, body=body, timeout=30)
        assert r.status == 403, (padding, r.status)
        assert r.json()["request_id"] == "padded-1"
    # A large clean body passes, and the body limit still answers 413 above 5m.
    body = json.dumps({"name": "Rex", "notes": "a" * 2_000_000}).encode()
    assert request("POST", f"{gw.url}/v1/pets", headers=headers, body=body, timeout=30).status == 200
    body = json.dumps({"name": "Rex", "notes": "a" * 6_000_000}).encode()
    assert request("POST", f"{gw.url}/v1/pets", headers=headers, body=body).status == 413
