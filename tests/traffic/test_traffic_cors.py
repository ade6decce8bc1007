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
    # The upstream's own CORS headers (and request id) never reach the client next to ours.
    own = "__header=Access-Control-Allow-Origin:*&__header=Access-Control-Allow-Credentials:true&__header=X-Request-ID:up"
    r = request("GET", f"{nginx.url}/v1/pets?{own}", headers={"Origin": APP})
    assert r.headers.get_all("Access-Control-Allow-Origin") == [APP]
    assert r.headers.get_all("Access-Control-Allow-Credentials") == ["true"]
    assert r.headers.get_all("X-Request-ID") != ["up"] and len(r.headers.get_all("X-Request-ID")) == 1
    r = request("GET", f"{nginx.url}/v1/pets?{own}", headers={"Origin": "https://evil.example.com"})
    assert r.headers.get_all("Access-Control-Allow-Origin") is None
    r = request("GET", f"{nginx.url}/v1/pets", headers={"Origin": "https://app.example.com.evil.net"})
    assert r.status == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Credentials" not in r.headers
    # Preflights never reach the upstream: with the backend gone they are still answered.
    backend.kill()
    assert request("GET", f"{nginx.url}/v1/pets").status == 502
    r = preflight(f"{nginx.url}/v1/pets", "POST")
    assert (r.status, r.headers["Access-Control-Allow-Origin"]) == (204, APP)


# Every header an operation's answers carry (CORS, a headers policy's response headers) is also
# on the gateway's own error answers for it, which shared error locations make.
ANSWER_POLICIES = {
    "web": {"kind": "cors", "origins": [APP], "credentials": True, "expose": ["X-Request-ID", "Retry-After"]},
    "hardening": {"kind": "headers", "response": {"set": {"X-Content-Type-Options": "nosniff", "X-Cost": "5$"}}},
    "traced": {"kind": "headers", "response": {"append": {"X-Trace": "a"}}},
    "traced-too": {"kind": "headers", "response": {"append": {"X-Trace": "b"}}},
    "quiet": {"kind": "headers", "response": {"set": {"X-Quiet": "1"}, "always": False}},
    "small": {"kind": "body_limit", "max": "1k"},
    "slow": {"kind": "rate_limit", "rate": "1r/m"},
}
ANSWER_API = {
    "use": ["web", "hardening", "small"],
    "operations": {"showPet": {"use": ["slow", "traced", "traced-too", "quiet"]}},
    "skip": [],
}


@pytest.mark.live
@requires_nginx
def test_error_answers_carry_the_operation_headers(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: nginx answers 502
    policy = policy_for(port, {"main": [backend.address], "dead": [dead]}, policies=ANSWER_POLICIES, api=ANSWER_API)
    policy["apis"].append({"name": "other", "spec": "pets.json", "base_path": "/v2", "upstream": "dead"})
    bundle = build(tmp_path, policy)
    nginx = nginx_runner(bundle, port)
    cors = {"Origin": APP}

    def answer_headers(r) -> dict[str, list[str]]:
        names = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers", "Vary", "X-Content-Type-Options", "X-Cost", "X-Trace", "X-Quiet")
        return {n: r.headers.get_all(n) for n in names if r.headers.get_all(n)}

    ok = request("GET", f"{nginx.url}/v1/pets/1", headers=cors)
    assert ok.status == 200
    expected = {
        "Access-Control-Allow-Origin": [APP],
        "Access-Control-Allow-Credentials": ["true"],
        "Access-Control-Expose-Headers": ["X-Request-ID, Retry-After"],
        "Vary": ["Origin"],
        "X-Content-Type-Options": ["nosniff"],
        "X-Cost": ["5$"],
        "X-Trace": ["a", "b"],
    }
    assert answer_headers(ok) == {**expected, "X-Quiet": ["1"]}
    # 429 from the rate limit: the same headers, but not the `always: false` one.
    limited = request("GET", f"{nginx.url}/v1/pets/1", headers=cors)
    assert limited.status == 429
    assert limited.headers["Content-Type"] == "application/json"
    assert answer_headers(limited) == expected
    # 413 for a Content-Length above the operation's limit: nginx answers it while selecting the
    # operation location, before any of its directives run.
    big = request("POST", f"{nginx.url}/v1/pets", headers={**cors, "Content-Length": "5000"}, body=b"x" * 5000)
    assert big.status == 413
    without_show = {k: v for k, v in expected.items() if k != "X-Trace"}
    assert answer_headers(big) == without_show
    # Above the gateway-wide limit (1m) too: the route location, which nginx finds first, used
    # to answer it before naming the operation, without any of them (found by a hunt).
    huge = request("POST", f"{nginx.url}/v1/pets", headers={**cors, "Content-Length": str(2 << 20)}, body=b"x" * (2 << 20))
    assert huge.status == 413
    assert answer_headers(huge) == without_show
    # A preflight over the (same) limit: 429 with the CORS headers only (a preflight answers
    # none of the operation's other headers).
    limited_preflight = preflight(f"{nginx.url}/v1/pets/2", "GET")
    assert limited_preflight.status == 429
    cors_only = {k: v for k, v in expected.items() if k.startswith("Access-Control") or k == "Vary"}
    assert answer_headers(limited_preflight) == cors_only
    # Another origin: no Allow-Origin/-Credentials on the error either, as on its successes.
    evil = {"Origin": "https://evil.example.com"}
    other_origin = request("GET", f"{nginx.url}/v1/pets/1", headers=evil)
    assert other_origin.status == 429
    unlisted = {k: v for k, v in expected.items() if k not in ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials")}
    assert answer_headers(other_origin) == unlisted
    listed_ok = request("GET", f"{nginx.url}/v1/pets", headers=evil)
    assert answer_headers(listed_ok) == {k: v for k, v in unlisted.items() if k != "X-Trace"}
    # An API without those policies: its 502 and 404 carry none of them.
    down = request("GET", f"{nginx.url}/v2/pets", headers=cors)
    assert down.status == 502 and down.headers["Content-Type"] == "application/json"
    assert answer_headers(down) == {}
    assert answer_headers(request("GET", f"{nginx.url}/v1/unknown", headers=cors)) == {}


@pytest.mark.live
@requires_nginx
def test_a_refused_address_is_refused_for_preflights_too(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    policies = {"web": {"kind": "cors", "origins": [APP]}, "office": {"kind": "ip_access", "allow": ["10.0.0.0/8"]}}
    api = {"use": ["web"], "operations": {"showPet": {"use": ["office"]}}, "skip": []}
    nginx = nginx_runner(build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=policies, api=api)), port)
    refused = preflight(f"{nginx.url}/v1/pets/1", "GET")
    assert refused.status == 403 and refused.headers["Content-Type"] == "application/json"
    assert "Access-Control-Allow-Methods" not in refused.headers
    assert preflight(f"{nginx.url}/v1/pets", "GET").status == 204  # listPets has no IP rule


@pytest.mark.live
@requires_nginx
def test_origins_are_canonical_and_preflights_list_only_the_policys_methods(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """Found by a hunt: an origin written with capitals or its default port never matched what
    browsers send (lower case, no default port), and a preflight listed the path's methods of
    operations without this CORS policy, which a browser then sends without a preflight of its
    own (the preflight cache is per method)."""
    backend = echo_backend("pets")
    port = free_port()
    policies = {"web": {"kind": "cors", "origins": ["https://App.Example.com:443", "http://LocalHost:80", "http://localhost:3000"]}}
    api = {"operations": {"showPet": {"use": ["web"]}}}
    bundle = build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=policies, api=api))
    nginx = nginx_runner(bundle, port)
    for origin in (APP, "http://localhost", "http://localhost:3000"):
        r = preflight(f"{nginx.url}/v1/pets/7", "GET", origin=origin)
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == origin
        assert r.headers["Access-Control-Allow-Methods"] == "GET, HEAD"  # not deletePet's DELETE
        assert request("GET", f"{nginx.url}/v1/pets/7", headers={"Origin": origin}).headers["Access-Control-Allow-Origin"] == origin
    assert preflight(f"{nginx.url}/v1/pets/7", "DELETE").status == 405  # deletePet has no CORS
