"""An API served at `/` owns every unknown path: its API-level authentication runs before the
404, as it does under any other base path (found by a hunt: /nothing answered 404 to anonymous
clients, telling them which paths exist)."""

from __future__ import annotations

import pytest

from apigen.explain import resolve
from apigen.pipeline import compile_policy
from tests.support.compose import build, openapi
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

KEY = "k-0123456789abcdef"


@pytest.mark.parametrize("base_path", ["/", None])
def test_unknown_paths_of_an_api_at_root_are_authenticated_first(tmp_path, echo_backend, nginx_runner, base_path) -> None:
    backend = echo_backend("root")
    port = free_port()
    spec = openapi({"/items": {"get": "listItems"}, "/items/{id}": {"get": "getItem"}})
    spec.pop("servers", None)
    keys = tmp_path / "keys.txt"
    keys.write_text(f"client-a: {KEY}\n")
    api = {"name": "main", "spec": "main.json", "upstream": "be", "use": ["k"]}
    if base_path is not None:
        api["base_path"] = base_path
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}"},
        "upstreams": {"be": {"servers": [{"address": backend.address}]}},
        "policies": {"k": {"kind": "api_key", "keys_file": str(keys)}},
        "apis": [api],
    }
    bundle = build(tmp_path, policy, {"main.json": spec})
    nginx = nginx_runner(bundle, port)
    for path in ("/nothing", "/x/y", "/items/1/more"):
        assert request("GET", f"{nginx.url}{path}").status == 401, path
        assert request("GET", f"{nginx.url}{path}", headers={"X-API-Key": KEY}).status == 404, path
    assert request("GET", f"{nginx.url}/items/1", headers={"X-API-Key": KEY}).status == 200
    plan = compile_policy(tmp_path / "in" / "policy.yaml", render=False).plan
    assert resolve(plan, "GET", "/nothing").location == "@apigen_unmatched/main/404"
