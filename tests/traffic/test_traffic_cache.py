"""cache: MISS / HIT / BYPASS against a real nginx; only GET/HEAD operations are cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.http import request
from tests.support.locations import operation_location
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, policy_for

POLICIES = {
    "cached": {
        "kind": "cache",
        "valid": {"200": "5m", "404": 10},
        "bypass_header": "X-Cache-Bypass",
        "vary": ["header:X-Tenant"],
    }
}


@pytest.mark.live
@requires_nginx
def test_cache_hit_miss_bypass(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    bundle = build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=POLICIES, api={"use": ["cached"]}))
    ops = (bundle / "api_conf.d/pets.conf").read_text()
    for op_id in ("listPets", "showPet", "ownerPet"):  # GET only
        assert "proxy_cache apigen_cache_cached;" in operation_location(ops, "pets", op_id)[1]
    assert "proxy_cache " not in operation_location(ops, "pets", "deletePet")[1]
    assert 'proxy_cache_key "$scheme$host$request_uri:${http_x_tenant}:$http_authorization:$http_cookie";' in ops
    nginx = nginx_runner(bundle, port)

    def get(path: str, **headers: str):
        r = request("GET", f"{nginx.url}{path}", headers=headers)
        return (
            r.status,
            r.headers.get("X-Cache-Status"),
            r.json()["headers"]["x-request-id"] if r.status == 200 else None,
        )

    status, cache, first_id = get("/v1/pets?a=1")
    assert (status, cache) == (200, "MISS")
    status, cache, second_id = get("/v1/pets?a=1")
    assert (status, cache) == (200, "HIT")
    assert second_id == first_id  # the cached body, not a new upstream answer
    assert get("/v1/pets?a=1", **{"X-Cache-Bypass": "1"})[1] == "BYPASS"
    assert get("/v1/pets?a=2")[1] == "MISS"  # the URI is part of the key
    assert get("/v1/pets?a=1", **{"X-Tenant": "t2"})[1] == "MISS"  # so is the vary header
    assert get("/v1/pets?a=1", **{"X-Tenant": "t2"})[1] == "HIT"
    # One caller's answer is never another's (found live: bob got alice's cached response).
    _, cache, alice = get("/v1/pets?a=1", Authorization="Bearer alice")
    assert cache == "MISS" and get("/v1/pets?a=1", Authorization="Bearer alice")[1:] == ("HIT", alice)
    _, cache, bob = get("/v1/pets?a=1", Authorization="Bearer bob")
    assert cache == "MISS" and bob != alice
    # A session cookie is a credential too (found by a hunt: one session got another's answer).
    _, cache, ann = get("/v1/pets?a=1", Cookie="session=ann")
    assert cache == "MISS" and get("/v1/pets?a=1", Cookie="session=ann")[1:] == ("HIT", ann)
    _, cache, ben = get("/v1/pets?a=1", Cookie="session=ben")
    assert cache == "MISS" and ben != ann
    # 404 is cached too (valid 10s); POST never is.
    assert request("GET", f"{nginx.url}/v1/pets/9?__status=404").headers["X-Cache-Status"] == "MISS"
    assert request("GET", f"{nginx.url}/v1/pets/9?__status=404").headers["X-Cache-Status"] == "HIT"
    r = request("POST", f"{nginx.url}/v1/pets")
    assert r.status == 200 and "X-Cache-Status" not in r.headers
    # A HIT is served without the upstream.
    backend.kill()
    assert get("/v1/pets?a=1")[:2] == (200, "HIT")


def test_cache_key_separates_split_variants(tmp_path: Path) -> None:
    policies = {"c": {"kind": "cache"}, "s": {"kind": "split", "weights": {"main": 90, "canary": 10}}}
    policy = policy_for(
        8080, {"main": ["127.0.0.1:9"], "canary": ["127.0.0.1:10"]}, policies=policies, api={"use": ["c", "s"]}
    )
    ops = (build(tmp_path, policy) / "api_conf.d/pets.conf").read_text()
    for op_id in ("listPets", "showPet", "ownerPet"):
        key = 'proxy_cache_key "$scheme$host$request_uri:$http_authorization:$http_cookie:${apigen_split_s_pick}";'
        assert key in operation_location(ops, "pets", op_id)[1]


def test_cache_key_holds_the_credentials_of_the_operations_auth(tmp_path: Path) -> None:
    """An API-key (or JWT cookie/header token, client certificate) policy on a cached operation
    puts that credential in the key, besides Authorization."""
    from apigen.model.types import PolicyDef
    from apigen.plan.effective import EffectivePolicy
    from apigen.policies.cache import credential_variables

    config = type("C", (), {"policies": {
        "k": PolicyDef("k", "api_key", {"kind": "api_key", "keys_file": "x", "name": "X-API-Key"}),
        "j": PolicyDef("j", "jwt", {"kind": "jwt", "token": {"from": "cookie", "name": "session"}}),
        "m": PolicyDef("m", "mtls", {"kind": "mtls"}),
    }})()
    eff = type("E", (), {"policies": tuple(EffectivePolicy(config.policies[n], "api", ("apis", 0)) for n in "kjm")})()
    assert credential_variables(eff, config) == ["$http_authorization", "$http_cookie", "$http_x_api_key", "$cookie_session", "$ssl_client_s_dn"]
