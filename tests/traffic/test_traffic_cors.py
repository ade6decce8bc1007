"""cors: preflights answered by the gateway, counted by limits; ACAO only for listed origins."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, policy_for

APP = "https://app.example.com"
POLICIES = {
    "web": {
        "kind": "cors",
        "origins": [APP, "http://localhost:3000"],
        "credentials": True,
        "expose": ["X-Request-ID"],
        "max_age": 120,
    },
    "slow": {"kind": "rate_limit", "rate": "1r/m", "burst": 2},
}
API = {"use": ["web"], "operations": {"showPet": {"use": ["slow"]}}, "skip": []}


def preflight(url: str, method: str, origin: str = APP):
    return request(
        "OPTIONS",
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


@pytest.mark.live
@requires_nginx
def test_cors_preflight_and_actual_requests(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    bundle = build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=POLICIES, api=API))
    maps = (bundle / "api_maps.conf").read_text()
    assert '"/v1/pets OPTIONS" $apigen_preflight;' in maps
    nginx = nginx_runner(bundle, port)

    r = preflight(f"{nginx.url}/v1/pets", "POST")
    assert r.status == 204
    assert r.headers["Access-Control-Allow-Origin"] == APP
    assert r.headers["Access-Control-Allow-Methods"] == "GET, HEAD, POST"  # from the spec
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Max-Age"] == "120"
    r = preflight(f"{nginx.url}/v1/pets/7", "DELETE", origin="https://evil.example.com")
    assert r.status == 204
    assert "Access-Control-Allow-Origin" not in r.headers
    assert r.headers["Access-Control-Allow-Methods"] == "GET, HEAD, DELETE"
    # A method the path does not have, and a plain OPTIONS, still get the JSON 405.
    assert preflight(f"{nginx.url}/v1/pets", "PATCH").status == 405
    assert request("OPTIONS", f"{nginx.url}/v1/pets").status == 405

    # Preflights do not bypass limits: showPet allows 1r/m with burst 2.
    statuses = [preflight(f"{nginx.url}/v1/pets/1", "GET").status for _ in range(4)]
    assert statuses == [204, 204, 204, 429]
    r = request("GET", f"{nginx.url}/v1/pets/1", headers={"Origin": APP})
    assert r.status == 429  # same zone as the preflights
    # The gateway's own error answer carries the CORS headers, so the browser can read it.
    assert (r.headers["Access-Control-Allow-Origin"], r.headers["Access-Control-Allow-Credentials"]) == (APP, "true")
    r = request("GET", f"{nginx.url}/v1/pets/1", headers={"Origin": "https://evil.example.com"})
    assert r.status == 429 and "Access-Control-Allow-Origin" not in r.headers

    r = request("GET", f"{nginx.url}/v1/pets", headers={"Origin": APP})
    assert r.headers["Access-Control-Allow-Origin"] == APP
    assert r.headers["Access-Control-Expose-Headers"] == "X-Request-ID"
    assert r.headers["Vary"] == "Origin"
    r = request("GET", f"{nginx.url}/v1/pets", headers={"Origin": "https://app.example.com.evil.net"})
    assert r.status == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Credentials" not in r.headers
    # Preflights never reach the upstream: with the backend gone they are still answered.
    backend.kill()
    assert request("GET", f"{nginx.url}/v1/pets").status == 502
    r = preflight(f"{nginx.url}/v1/pets", "POST")
    assert (r.status, r.headers["Access-Control-Allow-Origin"]) == (204, APP)
