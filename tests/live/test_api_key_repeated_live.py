"""An API key sent twice, in a header or a cookie: the upstream never gets a key the gateway did
not look up (found by a hunt, as for JWTs in test_jwt_repeated_live.py: the key maps read the
first X-API-Key line, or the first `apikey` cookie, while the upstream got both, so a known key
carried a forged one along to an upstream that may read the other).

* A repeated key header: its first copy is looked up and is the only one the upstream gets.
* A repeated key cookie (names compared ignoring case, as nginx's ``$cookie_<name>``): 401.
"""

from __future__ import annotations

import pytest

from tests.support.http import raw_get
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

KEY = "k-1234567890abcdef"
FORGED = "k-forged-000000000"
OK = {"200": {"description": "ok"}}
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "keys", "version": "1"},
    "paths": {f"/{op}": {"get": {"operationId": op, "responses": OK}} for op in ("hdr", "hidden", "ck")},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.support.backend import EchoBackend
    from tests.support.compose import build
    from tests.support.nginx import NginxInstance

    tmp = tmp_path_factory.mktemp("keyrepeat")
    backend = EchoBackend("keys").start()
    port = free_port()
    (tmp / "in").mkdir()
    (tmp / "in" / "keys.txt").write_text(f"partner: {KEY}\n")
    keys = {"kind": "api_key", "keys_file": "keys.txt"}
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}"},
        "upstreams": {"echo": {"servers": [{"address": backend.address}]}},
        "policies": {
            "hdr": keys,
            "hidden": {**keys, "hide_credentials": True},
            "ck": {**keys, "in": "cookie", "name": "apikey"},
        },
        "apis": [
            {
                "name": "k",
                "spec": "spec.json",
                "upstream": "echo",
                "operations": {
                    "hdr": {"use": ["hdr"]},
                    "hidden": {"use": ["hidden"]},
                    "ck": {"use": ["ck"]},
                },
            }
        ],
    }
    nginx = NginxInstance(build(tmp, policy, {"spec.json": SPEC}), port)
    try:
        nginx.start()
        yield port
    finally:
        nginx.stop()
        nginx.cleanup()
        backend.stop()



def test_a_repeated_key_header_sends_only_the_looked_up_copy_upstream(gateway) -> None:
    for headers in ([("X-API-Key", KEY), ("X-API-Key", FORGED)], [("X-API-Key", KEY), ("x-api-key", FORGED)]):
        status, seen = raw_get(gateway, "/hdr", headers)
        assert status == 200 and seen["x-api-key"] == KEY and seen["x-client-name"] == "partner", (status, seen)
    status, seen = raw_get(gateway, "/hdr", [("X-API-Key", KEY)])
    assert status == 200 and seen["x-api-key"] == KEY
    # The forged copy first: that is the one looked up, and refused.
    assert raw_get(gateway, "/hdr", [("X-API-Key", FORGED), ("X-API-Key", KEY)])[0] == 401
    # hide_credentials still sends none.
    status, seen = raw_get(gateway, "/hidden", [("X-API-Key", KEY), ("X-API-Key", FORGED)])
    assert status == 200 and "x-api-key" not in seen and seen["x-client-name"] == "partner"


def test_a_repeated_key_cookie_is_refused(gateway) -> None:
    status, seen = raw_get(gateway, "/ck", [("Cookie", f"a=1; apikey={KEY}")])
    assert status == 200 and seen["cookie"] == f"a=1; apikey={KEY}" and seen["x-client-name"] == "partner"
    for cookies in (
        [("Cookie", f"apikey={KEY}; apikey={FORGED}")],
        [("Cookie", f"apikey={KEY}"), ("Cookie", f"APIKEY={FORGED}")],
        [("Cookie", f"apikey={KEY},apikey={FORGED}")],
    ):
        status, _ = raw_get(gateway, "/ck", cookies)
        assert status == 401, cookies
    # A cookie whose name merely ends with the key cookie's is another cookie.
    assert raw_get(gateway, "/ck", [("Cookie", f"xapikey=1; apikey={KEY}")])[0] == 200
