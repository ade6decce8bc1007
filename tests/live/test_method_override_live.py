"""Method-override headers never reach the upstream, live (nginx + echo backend).

The gateway authorizes the request's own method; an upstream framework honouring
`X-HTTP-Method-Override` (Express method-override, Laravel, Symfony), `X-HTTP-Method` (OData,
ASP.NET) or `X-Method-Override` ran another one: a POST to a public operation with
`X-HTTP-Method-Override: DELETE` reached the upstream as is, which deleted through the protected
DELETE operation of the same path (found by a hunt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.live.validation_support import build_gateway, nginx_t_ok
from tests.support.http import request
from tests.support.nginx import requires_nginx

pytestmark = [pytest.mark.live, requires_nginx]

OK = {"200": {"description": "ok"}}
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "override", "version": "1"},
    "paths": {
        "/items": {
            "post": {"operationId": "submitItem", "security": [], "responses": OK},
            "delete": {"operationId": "deleteItems", "security": [{"key": []}], "responses": OK},
        }
    },
    "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
}
OVERRIDES = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")


@pytest.fixture
def gw(tmp_path: Path, echo_backend, nginx_runner):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "keys.txt").write_text("admin: k-1234567890abcdef\n")
    policies = {
        "keys": {"kind": "api_key", "keys_file": str(tmp_path / "keys.txt")},
        "oas": {"kind": "openapi_security", "schemes": {"key": "keys"}},
    }
    api = {"name": "a", "spec": str(tmp_path / "spec.json"), "use": ["oas"]}
    bundle, port = build_gateway(tmp_path, echo_backend("override").address, policies, [api])
    nginx_t_ok(bundle)
    return nginx_runner(bundle, port)


def test_override_headers_are_removed_from_a_public_operation(gw) -> None:
    assert request("DELETE", f"{gw.url}/items").status == 401
    headers = {**{name: "DELETE" for name in OVERRIDES}, "Content-Type": "application/json"}
    resp = request("POST", f"{gw.url}/items", headers=headers, body="{}")
    assert resp.status == 200, resp.text
    seen = resp.json()
    assert seen["method"] == "POST" and seen["headers"]["x-apigen-operation"] == "a.submitItem"
    assert not {name.lower() for name in OVERRIDES} & set(seen["headers"]), seen["headers"]


def test_override_headers_are_removed_after_authentication_too(gw) -> None:
    resp = request("DELETE", f"{gw.url}/items", headers={"X-API-Key": "k-1234567890abcdef", "X-HTTP-Method-Override": "PUT"})
    assert resp.status == 200 and "x-http-method-override" not in resp.json()["headers"]
