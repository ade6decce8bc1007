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
    def start(policies: dict, api_extra: dict | None = None):
        backend = echo_backend("pets")
        audit = tmp_path / "audit.log"
        for p in policies.values():
            if p["kind"] == "waf":
                p["audit_log"] = str(audit)
        api = {"name": "pets", "spec": str(PETSTORE), "base_path": "/v1", **(api_extra or {})}
        bundle, port = build_gateway(tmp_path, backend.address, policies, [api])
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
