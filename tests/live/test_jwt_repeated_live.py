"""A JWT sent twice, in a header or a cookie, with and without the verification cache: the
upstream never gets a token the gateway did not verify (found by a hunt: the cache keyed on the
first X-Token while the upstream got both, so a verified token carried a forged one along).

* A repeated token header: its first copy is verified (the cache key, ``$http_x_token``, is that
  copy too) and is the only one the upstream gets.
* A repeated token cookie: refused (401); the upstream would get the whole Cookie header.
* A repeated ``Authorization`` header: nginx itself answers 400.
"""

from __future__ import annotations

import json

import jwt
import pytest

from tests.live.test_security import Keys, build
from tests.support.http import raw_get
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

OPS = {"hdr": "hd", "ck": "ck", "bearer": "rs", "hdr_nc": "hdnc", "ck_nc": "cknc"}
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "repeated", "version": "1"},
    "paths": {
        f"/{op}": {"get": {"operationId": op, "security": [{scheme: []}], "responses": {"200": {"description": "ok"}}}}
        for op, scheme in OPS.items()
    },
    "components": {
        "securitySchemes": {
            "rs": {"type": "http", "scheme": "bearer"},
            "hd": {"type": "apiKey", "in": "header", "name": "X-Token"},
            "hdnc": {"type": "apiKey", "in": "header", "name": "X-Token"},
            "ck": {"type": "apiKey", "in": "cookie", "name": "sess"},
            "cknc": {"type": "apiKey", "in": "cookie", "name": "Sess"},
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

    tmp = tmp_path_factory.mktemp("jwtrepeat")
    (tmp / "spec.json").write_text(json.dumps(SPEC))
    (tmp / "rs.pem").write_bytes(Keys.public_pem(keys.rsa))
    backend = EchoBackend("repeated").start()
    port = free_port()
    cache = {"listen": f"127.0.0.1:{free_port()}", "ttl": 30}
    key = [{"pem": "rs.pem", "alg": "RS256"}]
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}"},
        "upstreams": {"echo": {"servers": [{"address": backend.address}]}},
        "policies": {
            "rs": {"kind": "jwt", "keys": key, "cache": cache},
            "hd": {"kind": "jwt", "keys": key, "cache": cache, "token": {"from": "header", "name": "X-Token"}},
            "ck": {"kind": "jwt", "keys": key, "cache": cache, "token": {"from": "cookie", "name": "sess"}},
            "hdnc": {"kind": "jwt", "keys": key, "token": {"from": "header", "name": "X-Token"}},
            "cknc": {"kind": "jwt", "keys": key, "token": {"from": "cookie", "name": "Sess"}},
            "oas": {"kind": "openapi_security", "schemes": {s: s for s in ("rs", "hd", "ck", "hdnc", "cknc")}},
        },
        "apis": [{"name": "r", "spec": "spec.json", "upstream": "echo", "use": ["oas"]}],
    }
    (tmp / "policy.json").write_text(json.dumps(policy))
    bundle = build(tmp / "policy.json", tmp / "bundle")
    nginx = NginxInstance(bundle, port)
    try:
        nginx.start()
        yield port
    finally:
        nginx.stop()
        nginx.cleanup()
        backend.stop()



def tok(keys: Keys, sub: str) -> str:
    import time

    return jwt.encode({"sub": sub, "exp": int(time.time()) + 300}, keys.rsa, "RS256")


@pytest.mark.parametrize("path", ["/hdr", "/hdr_nc"])
def test_a_repeated_token_header_sends_only_the_verified_copy_upstream(gateway, keys, path) -> None:
    good, forged = tok(keys, "alice"), "eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290In0."
    for _ in range(2):  # the second time from the cache where there is one
        status, seen = raw_get(gateway, path, [("X-Token", good), ("X-Token", forged)])
        assert status == 200 and seen["x-token"] == good, (status, seen)
    # The forged copy first: that is the one verified, and refused.
    status, _ = raw_get(gateway, path, [("X-Token", forged), ("X-Token", good)])
    assert status == 401


@pytest.mark.parametrize(("path", "name"), [("/ck", "sess"), ("/ck_nc", "Sess")])
def test_a_repeated_token_cookie_is_refused(gateway, keys, path, name) -> None:
    good, forged = tok(keys, "bob"), "eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290In0."
    status, seen = raw_get(gateway, path, [("Cookie", f"a=1; {name}={good}")])
    assert status == 200 and seen["cookie"] == f"a=1; {name}={good}"
    assert raw_get(gateway, path, [("Cookie", f"a=1; {name}={good}")])[0] == 200  # cached where cached
    for cookies in (
        [("Cookie", f"{name}={good}; {name}={forged}")],
        [("Cookie", f"{name}={good}"), ("Cookie", f"{name.upper()}={forged}")],
        [("Cookie", f"{name}={good},{name}={forged}")],
    ):
        assert raw_get(gateway, path, cookies)[0] == 401, cookies
    # A cookie whose name merely ends with the token cookie's is another cookie.
    assert raw_get(gateway, path, [("Cookie", f"x{name}=1; {name}={good}")])[0] == 200


def test_a_repeated_authorization_header_is_refused_by_nginx(gateway, keys) -> None:
    good = tok(keys, "carol")
    assert raw_get(gateway, "/bearer", [("Authorization", f"Bearer {good}")])[0] == 200
    assert raw_get(gateway, "/bearer", [("Authorization", f"Bearer {good}"), ("Authorization", "Bearer x.y.z")])[0] == 400
