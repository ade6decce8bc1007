"""errors: gateway-wide JSON error template and upstream 5xx mapped to it (proxy_intercept_errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, compile_errors, policy_for

TEMPLATE = '{"error": {"code": {status}, "message": {message}}, "trace": {request_id}, "cost": "$5"}'
POLICIES = {
    "json-errors": {"kind": "errors", "template": TEMPLATE},
    "mask-5xx": {"kind": "errors", "intercept": [500, 502, 503]},
    "slow": {"kind": "rate_limit", "rate": "1r/m", "burst": 5},
}


@pytest.mark.live
@requires_nginx
def test_error_template_and_intercepted_upstream_errors(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    policy = policy_for(
        port,
        {"main": [backend.address]},
        policies=POLICIES,
        gateway={"use": ["json-errors"]},
        api={"operations": {"listPets": {"use": ["mask-5xx", "slow"]}}},
    )
    nginx = nginx_runner(build(tmp_path, policy), port)

    r = request("GET", f"{nginx.url}/nope", headers={"X-Request-ID": "req-1"})
    assert r.status == 404
    assert r.json() == {"error": {"code": 404, "message": "Not Found"}, "trace": "req-1", "cost": "$5"}
    # Intercepted: the upstream's 502 body is replaced by the gateway's JSON.
    r = request("GET", f"{nginx.url}/v1/pets?__status=502", headers={"X-Request-ID": "req-2"})
    assert (r.status, r.json()["error"], r.json()["trace"]) == (502, {"code": 502, "message": "Bad Gateway"}, "req-2")
    # Not intercepted elsewhere: the upstream's own 502 answer passes through.
    r = request("GET", f"{nginx.url}/v1/pets/1?__status=502")
    assert r.status == 502 and r.json()["backend"] == "pets"
    # Upstream 4xx are not in the list and pass through.
    r = request("GET", f"{nginx.url}/v1/pets?__status=404")
    assert r.status == 404 and r.json()["backend"] == "pets"
    # An intercepted answer keeps the headers its status needs (found by a hunt: dropped).
    r = request("GET", f"{nginx.url}/v1/pets?__status=503&__header=Retry-After:120")
    assert (r.status, r.json()["error"]["code"], r.headers.get_all("Retry-After")) == (503, 503, ["120"])
    # nginx keeps an intercepted 401's challenge itself: once.
    r = request("GET", f"{nginx.url}/v1/pets?__status=401&__header=WWW-Authenticate:Bearer%20realm%3D%22pets%22")
    assert (r.status, r.headers.get_all("WWW-Authenticate")) == (401, ['Bearer realm="pets"'])
    # The upstream's 429 (intercepted: the gateway answers 429 itself too) has its own
    # Retry-After, once, not the limit's.
    r = request("GET", f"{nginx.url}/v1/pets?__status=429&__header=Retry-After:33")
    assert (r.status, r.json()["error"]["code"], r.headers.get_all("Retry-After")) == (429, 429, ["33"])
    # nginx's own 429 in the intercepting location still gets the JSON body and the limit's wait.
    while (r := request("GET", f"{nginx.url}/v1/pets")).status == 200:  # burst 5 + 1, less the above
        pass
    assert (r.status, r.json()["error"]["code"], r.headers.get_all("Retry-After")) == (429, 429, ["60"])


def test_error_template_validation(tmp_path: Path) -> None:
    policies = {"broken": {"kind": "errors", "template": '{"code": {status}, "msg": "{message}"}'}}
    errors = compile_errors(
        tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api={"use": ["broken"]})
    )
    text = "\n".join(errors)
    assert "error body template is not JSON once filled in" in text
    assert "has an error body template, which applies to the whole gateway" in text
