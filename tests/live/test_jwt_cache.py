"""Cached JWT verifications (``cache:`` of a jwt policy, NGINX OSS): a cached success never
outlives the token, a failure or a tampered token never reaches the cache, and requirements do
not share entries."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from apigen.verify import parse_bundle, run_nginx_t
from tests.live.test_security import Keys, build
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "cached", "version": "1"},
    "security": [{"rs": []}],
    "paths": {
        "/plain": {"get": {"operationId": "plain", "responses": {"200": {"description": "ok"}}}},
        "/scoped": {"get": {"operationId": "scoped", "security": [{"rs": ["items:write"]}], "responses": {"200": {"description": "ok"}}}},
        "/admins": {"get": {"operationId": "admins", "responses": {"200": {"description": "ok"}}}},
        "/hdr": {"get": {"operationId": "hdr", "security": [{"hd": []}], "responses": {"200": {"description": "ok"}}}},
        "/ck": {"get": {"operationId": "ck", "security": [{"ck": []}], "responses": {"200": {"description": "ok"}}}},
        "/either": {"get": {"operationId": "either", "security": [{"rs": []}, {"hd": []}], "responses": {"200": {"description": "ok"}}}},
    },
    "components": {
        "securitySchemes": {
            "rs": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://i.test/t", "scopes": {"items:write": "w"}}}},
            "hd": {"type": "apiKey", "in": "header", "name": "X-Token"},
            "ck": {"type": "apiKey", "in": "cookie", "name": "api-token"},
        }
    },
}


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, keys):
    from tests.support.backend import EchoBackend
    from tests.support.nginx import NginxInstance

    tmp = tmp_path_factory.mktemp("jwtcache")
    (tmp / "spec.json").write_text(json.dumps(SPEC))
    (tmp / "rs.pem").write_bytes(Keys.public_pem(keys.rsa))
    backend = EchoBackend("cached").start()
    port = free_port()
    cache = {"listen": f"127.0.0.1:{free_port()}", "ttl": 30}
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "operation_header": "X-Apigen-Operation"},
        "upstreams": {"echo": {"servers": [{"address": backend.address}]}},
        "policies": {
            "rs-jwt": {"kind": "jwt", "keys": [{"pem": "rs.pem", "alg": "RS256"}], "cache": cache, "forward_claims": {"sub": "X-User-Id"}},
            "hd-jwt": {"kind": "jwt", "keys": [{"pem": "rs.pem", "alg": "RS256"}], "cache": cache, "token": {"from": "header", "name": "X-Token"}},
            # A cookie name no nginx variable can spell ($cookie_api-token): njs reads it by name.
            "ck-jwt": {"kind": "jwt", "keys": [{"pem": "rs.pem", "alg": "RS256"}], "cache": cache, "token": {"from": "cookie", "name": "api-token"}},
            "admins-only": {"kind": "claims", "rules": [{"claim": "role", "in": ["admin"]}]},
            "oas": {"kind": "openapi_security", "schemes": {"rs": "rs-jwt", "hd": "hd-jwt", "ck": "ck-jwt"}},
        },
        "apis": [{"name": "c", "spec": "spec.json", "upstream": "echo", "use": ["oas"], "operations": {"admins": {"use": ["admins-only"]}}}],
    }
    (tmp / "policy.json").write_text(json.dumps(policy))
    bundle = build(tmp / "policy.json", tmp / "bundle")
    nginx = NginxInstance(bundle, port)
    try:
        nginx.start()
        yield nginx, bundle
    finally:
        nginx.stop()
        nginx.cleanup()
        backend.stop()


def token(keys: Keys, ttl: int = 300, **claims) -> str:
    return jwt.encode({"sub": "alice", "exp": int(time.time()) + ttl, **claims}, keys.rsa, "RS256")


def get(gw, path: str, tok: str | None = None, **headers: str):
    nginx, _ = gw
    if tok is not None:
        headers["Authorization"] = f"Bearer {tok}"
    return request("GET", f"{nginx.url}{path}", headers={k.replace("_", "-"): v for k, v in headers.items()})


def entries(gw) -> int:
    nginx, _ = gw
    return sum(1 for p in Path(nginx.prefix, "temp/apigen_auth_cache").rglob("*") if p.is_file())


def test_bundle_is_valid_and_caches_through_a_local_verifier(gateway) -> None:
    _, bundle = gateway
    assert run_nginx_t(bundle).ok
    assert not parse_bundle(bundle).errors
    conf = (bundle / "api_gateway.conf").read_text()
    assert "proxy_cache apigen_auth;" in conf and '"$http_x_token"' not in conf and "$http_x_token" in conf


def test_a_success_is_cached_and_reused_with_its_claims(gateway, keys) -> None:
    tok = token(keys, sub="carol")
    before = entries(gateway)
    first = get(gateway, "/plain", tok)
    assert first.status == 200, first.text
    assert entries(gateway) == before + 1
    again = get(gateway, "/plain", tok, X_User_Id="mallory")
    assert again.status == 200
    assert again.json()["headers"]["x-user-id"] == "carol"  # forwarded claim from the cached entry
    assert entries(gateway) == before + 1


def test_failures_and_tampered_tokens_never_reach_the_cache(gateway, keys) -> None:
    good = token(keys, sub="dave")
    assert get(gateway, "/plain", good).status == 200
    before = entries(gateway)
    head, payload, sig = good.split(".")
    other = token(keys, sub="root").split(".")[1]
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    for bad in (f"{head}.{other}.{sig}", f"{head}.{payload}.{flipped}", good + "x", "garbage"):
        for _ in range(2):
            resp = get(gateway, "/plain", bad)
            assert resp.status == 401, (bad, resp.status)
            assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    assert get(gateway, "/plain").status == 401
    assert entries(gateway) == before


def test_a_cached_token_is_rejected_after_its_exp(gateway, keys) -> None:
    # Valid for 4-5 s (exp is whole seconds), so both requests pass on a loaded machine too; then
    # wait until exp is past by the same margin as before, whenever the requests finished.
    exp = int(time.time()) + 5
    tok = token(keys, sub="erin", exp=exp)
    assert get(gateway, "/plain", tok).status == 200
    assert get(gateway, "/plain", tok).status == 200
    time.sleep(max(0.0, exp - time.time()) + 1.2)
    resp = get(gateway, "/plain", tok)
    assert resp.status == 401, resp.text


def test_requirements_and_token_sources_do_not_share_entries(gateway, keys) -> None:
    plain = token(keys, sub="frank", role="dev")
    assert get(gateway, "/plain", plain).status == 200
    assert get(gateway, "/scoped", plain).status == 403  # no items:write scope
    assert get(gateway, "/admins", plain).status == 403  # claim rule
    assert get(gateway, "/hdr", plain).status == 401  # token expected in X-Token
    assert get(gateway, "/hdr", X_Token=plain).status == 200
    writer = token(keys, sub="gina", scope="items:write", role="admin")
    assert get(gateway, "/scoped", writer).status == 200
    assert get(gateway, "/admins", writer).status == 200
    assert get(gateway, "/scoped", plain).status == 403  # still verified on its own requirement


def test_the_cache_key_holds_a_cookie_token_whatever_its_name(gateway, keys) -> None:
    """The token of a cookie whose name has a dash is part of the key too: a cached success for
    one token is never reused for another, or for none."""
    good = token(keys, sub="hana")
    assert get(gateway, "/ck", Cookie=f"api-token={good}").status == 200
    assert get(gateway, "/ck", Cookie=f"api-token={good}").status == 200
    for bad in ("garbage", good + "x"):
        assert get(gateway, "/ck", Cookie=f"api-token={bad}").status == 401, bad
    assert get(gateway, "/ck").status == 401


def test_the_token_sources_of_a_key_cannot_be_shifted_into_each_other(gateway, keys) -> None:
    """The sources were joined by a space, which header values may hold: `Bearer T` + `junk x`
    keyed like `Bearer T junk` + `x`, so a request the verifier refuses got a cached success
    (found by a hunt). Header values cannot hold a line feed, which joins them now."""
    good = token(keys, sub="ivan")
    assert get(gateway, "/either", X_Token=good, Authorization="Bearer junk").status == 200
    for x_token, authorization in ((f"{good} Bearer", "junk"), (f"{good} Bearer junk", "")):
        shifted = get(gateway, "/either", X_Token=x_token, Authorization=authorization)
        assert shifted.status == 401, (x_token, authorization, shifted.text)


def test_a_large_token_is_verified_and_cached(gateway, keys) -> None:
    """Found by a hunt: the cache key (the token) and the verifier's headers (forwarded claims)
    share one proxy_buffer_size, nginx's 4k: a valid token with a 5,000-character `sub` answered
    500 ("upstream sent too big header"), and a 6 KB token was never cached ("proxy_buffer_size
    4096 is not enough for cache key", an error-log line a request)."""
    nginx, _ = gateway
    big_sub = token(keys, sub="s" * 5000)
    big_other = token(keys, sub="erin", pad="p" * 4500)
    before = entries(gateway)
    for _ in range(2):
        r = get(gateway, "/plain", big_sub)
        assert r.status == 200, r.text
        assert r.json()["headers"]["x-user-id"] == "s" * 5000
        assert get(gateway, "/plain", big_other).json()["headers"]["x-user-id"] == "erin"
    assert entries(gateway) == before + 2
    # A junk token as long as a header line may be: refused, and no nginx error.
    assert get(gateway, "/plain", "j" * 7900).status == 401
    log = nginx.error_log()
    assert "too big header" not in log and "not enough for cache key" not in log


def test_a_fractional_exp_is_cached_in_whole_seconds(gateway, keys) -> None:
    """Found by a hunt: exp = now + 20.5 (a NumericDate may have a fraction; under the 30 s ttl)
    made the verifier send X-Accel-Expires: 20.5, which nginx ignores: it was never cached."""
    tok = jwt.encode({"sub": "gina", "exp": time.time() + 20.5}, keys.rsa, "RS256")
    before = entries(gateway)
    assert get(gateway, "/plain", tok).status == 200
    assert entries(gateway) == before + 1
