"""Paths longer than nginx's location names allow (255 bytes) still route.

nginx keeps a location name's length in one byte: a longer `location =` or `^~` name is cut in
its location tree and never matches (found by a hunt: concrete paths of 256 bytes and more
answered 404 while `apigen explain` said they matched).
"""

from __future__ import annotations

import pytest

from tests.support.compose import build, openapi
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

A255 = "/" + "a" * 254  # 255 bytes: still an exact location
B256 = "/" + "b" * 255
DEEP = "/v1/" + "/".join(["seg" + "x" * 60] * 5)  # a literal prefix of 300+ bytes
PATHS = {A255: "len255", B256: "len256", DEEP + "/{id}": "deepItem", DEEP + "/c" * 3: "deepConcrete"}


def test_long_paths_route(tmp_path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("long")
    port = free_port()
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "operation_header": "X-Op"},
        "upstreams": {"u": {"servers": [{"address": backend.address}]}},
        "apis": [{"name": "long", "spec": "long.json", "upstream": "u"}],
    }
    spec = openapi({path: {"get": op} for path, op in PATHS.items()})
    bundle = build(tmp_path, policy, {"long.json": spec})
    text = (bundle / "api_conf.d" / "long.conf").read_text()
    assert f'location = "{A255}"' in text and f'location = "{B256}"' not in text
    nginx = nginx_runner(bundle, port)
    for url, op in ((A255, "len255"), (B256, "len256"), (DEEP + "/42", "deepItem"), (DEEP + "/c" * 3, "deepConcrete")):
        r = request("GET", nginx.url + url)
        assert r.status == 200, (url[:40], r.status)
        assert r.json()["headers"]["x-op"] == f"long.{op}"
    assert request("GET", nginx.url + B256 + "x").status == 404
    assert request("POST", nginx.url + B256).status == 405
