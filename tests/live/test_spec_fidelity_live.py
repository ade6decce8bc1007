"""What the OpenAPI documents mean, checked live (nginx + njs): findings of the seventh session's
spec-fidelity hunt (query credentials under `unknown_query_params: reject`, Swagger 2.0 forms
without `consumes`, header parameters overridden in another case, `style: label`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apigen.pipeline import compile_policy
from tests.live.validation_support import build_gateway, nginx_t_ok
from tests.support.http import request
from tests.support.nginx import requires_nginx

OK = {"200": {"description": "ok"}}
KEY = "0123456789abcdef0123"

SPEC_30 = {
    "openapi": "3.0.3",
    "info": {"title": "fidelity", "version": "1"},
    "security": [{"qKey": []}],
    "paths": {
        "/items": {
            "get": {"operationId": "items", "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}], "responses": OK}
        },
        "/h": {
            "parameters": [{"name": "X-Trace", "in": "header", "required": True, "schema": {"type": "integer"}}],
            "get": {
                "operationId": "h",
                "security": [],
                "parameters": [{"name": "x-trace", "in": "header", "required": False, "schema": {"type": "string"}}],
                "responses": OK,
            },
        },
        "/l/{id}": {
            "get": {
                "operationId": "label",
                "security": [],
                "parameters": [{"name": "id", "in": "path", "required": True, "style": "label", "schema": {"type": "integer"}}],
                "responses": OK,
            }
        },
        "/la/{ids}": {
            "get": {
                "operationId": "labelArray",
                "security": [],
                "parameters": [
                    {"name": "ids", "in": "path", "required": True, "style": "label", "explode": True, "schema": {"type": "array", "items": {"type": "integer"}}}
                ],
                "responses": OK,
            }
        },
    },
    "components": {"securitySchemes": {"qKey": {"type": "apiKey", "in": "query", "name": "api_key"}}},
}

SWAGGER = {
    "swagger": "2.0",
    "info": {"title": "forms", "version": "1"},
    "paths": {
        "/login": {"post": {"operationId": "login", "parameters": [{"name": "user", "in": "formData", "type": "string", "required": True}], "responses": OK}},
        "/doc": {"post": {"operationId": "doc", "parameters": [{"name": "b", "in": "body", "schema": {"type": "object", "required": ["n"]}}], "responses": OK}},
    },
}


@pytest.fixture
def gw(tmp_path: Path, echo_backend, nginx_runner):
    backend = echo_backend("fidelity")
    (tmp_path / "s30.json").write_text(json.dumps(SPEC_30))
    (tmp_path / "sw.json").write_text(json.dumps(SWAGGER))
    (tmp_path / "keys.txt").write_text(f"client-a: {KEY}\n")
    policies = {
        "v": {"kind": "validation", "unknown_query_params": "reject"},
        "qk": {"kind": "api_key", "keys_file": str(tmp_path / "keys.txt"), "in": "query", "name": "api_key"},
        "sec": {"kind": "openapi_security", "schemes": {"qKey": "qk"}},
    }
    apis = [
        {"name": "a30", "spec": str(tmp_path / "s30.json"), "base_path": "/30", "use": ["sec", "v"]},
        {"name": "sw", "spec": str(tmp_path / "sw.json"), "base_path": "/sw", "use": ["v"]},
    ]
    bundle, port = build_gateway(tmp_path, backend.address, policies, apis)
    nginx_t_ok(bundle)
    return nginx_runner(bundle, port)


@pytest.mark.live
@requires_nginx
def test_a_query_credential_is_not_an_unknown_parameter(gw) -> None:
    """Every authenticated request got 400 "unknown parameter" (and 401 without the key)."""
    assert request("GET", f"{gw.url}/30/items?api_key={KEY}&limit=2").status == 200
    assert request("GET", f"{gw.url}/30/items?limit=2").status == 401
    r = request("GET", f"{gw.url}/30/items?api_key={KEY}&other=1")
    assert (r.status, r.json()["violations"]) == (400, ["/query/other: unknown parameter"])


@pytest.mark.live
@requires_nginx
def test_swagger_forms_and_bodies_without_consumes(gw) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert request("POST", f"{gw.url}/sw/login", headers=form, body=b"user=a").status == 200
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    body = b'--x\r\nContent-Disposition: form-data; name="user"\r\n\r\na\r\n--x--\r\n'
    assert request("POST", f"{gw.url}/sw/login", headers=multipart, body=body).status == 200
    r = request("POST", f"{gw.url}/sw/login", headers={"Content-Type": "application/json"}, body=b"{}")
    assert r.status == 415
    # A required form field needs a form.
    r = request("POST", f"{gw.url}/sw/login", headers=form, body=b"")
    assert (r.status, r.json()["violations"]) == (400, ["/body: required"])
    # A body parameter without `consumes`: JSON is checked, other media types pass.
    json_type = {"Content-Type": "application/json"}
    assert request("POST", f"{gw.url}/sw/doc", headers=json_type, body=b'{"n": 1}').status == 200
    assert request("POST", f"{gw.url}/sw/doc", headers=json_type, body=b"{}").status == 400
    assert request("POST", f"{gw.url}/sw/doc", headers={"Content-Type": "application/xml"}, body=b"<n/>").status == 200


@pytest.mark.live
@requires_nginx
def test_an_operation_header_parameter_overrides_the_path_items_in_any_case(gw) -> None:
    assert request("GET", f"{gw.url}/30/h").status == 200
    assert request("GET", f"{gw.url}/30/h", headers={"X-Trace": "abc"}).status == 200


@pytest.mark.live
@requires_nginx
def test_label_style_path_parameters(gw) -> None:
    assert request("GET", f"{gw.url}/30/l/.5").status == 200
    r = request("GET", f"{gw.url}/30/l/5")
    assert (r.status, r.json()["violations"]) == (400, ["/path/id: expected . before the value (style label)"])
    assert request("GET", f"{gw.url}/30/l/.x").status == 400
    assert request("GET", f"{gw.url}/30/la/.1.2.3").status == 200
    assert request("GET", f"{gw.url}/30/la/.1.x").status == 400


def test_a_scheme_mapped_to_a_policy_that_cannot_take_it_is_warned(tmp_path: Path) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "m", "version": "1"},
        "security": [{"qkey": []}, {"basicScheme": []}],
        "paths": {"/r": {"get": {"operationId": "r", "responses": OK}}},
        "components": {
            "securitySchemes": {
                "qkey": {"type": "apiKey", "in": "query", "name": "api_key"},
                "basicScheme": {"type": "http", "scheme": "basic"},
            }
        },
    }
    (tmp_path / "s.json").write_text(json.dumps(spec))
    (tmp_path / "keys.txt").write_text(f"client-a: {KEY}\n")
    (tmp_path / "jwt.key").write_text("0123456789abcdef0123456789abcdef")
    policy = {
        "gateway": {"listen": "127.0.0.1:8080"},
        "upstreams": {"be": {"servers": [{"address": "127.0.0.1:9"}]}},
        "policies": {
            "hk": {"kind": "api_key", "keys_file": "keys.txt", "in": "header", "name": "X-Key"},
            "j": {"kind": "jwt", "keys": [{"secret": "jwt.key", "alg": "HS256"}]},
            "sec": {"kind": "openapi_security", "schemes": {"qkey": "hk", "basicScheme": "j"}},
        },
        "apis": [{"name": "m", "spec": "s.json", "upstream": "be", "use": ["sec"]}],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    result = compile_policy(tmp_path / "policy.json")
    warnings = [str(d) for d in result.diagnostics if d.code == "security-scheme-mismatch"]
    assert len(warnings) == 2, [str(d) for d in result.diagnostics]
    assert "sends the key in query 'api_key', but policy 'hk' reads header 'X-Key'" in warnings[1]
    assert "is http basic, mapped to 'j', a jwt policy (expected basic_auth)" in warnings[0]


def test_security_scheme_mismatch_resolves_policy_defaults(tmp_path: Path) -> None:
    """Found by a hunt: an api_key policy with the default header was read as '' (a false
    mismatch against an `X-API-Key` scheme), and a JWT in a header of its own (an apiKey scheme
    to OpenAPI) was reported as mapped to the wrong kind."""
    schemes = {
        "dflt": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        "tok": {"type": "apiKey", "in": "header", "name": "X-Token"},
        "ck": {"type": "apiKey", "in": "cookie", "name": "session"},
        "wrong": {"type": "apiKey", "in": "header", "name": "X-Other"},
    }
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "m", "version": "1"},
        "security": [{name: []} for name in schemes],
        "paths": {"/r": {"get": {"operationId": "r", "responses": OK}}},
        "components": {"securitySchemes": schemes},
    }
    (tmp_path / "s.json").write_text(json.dumps(spec))
    (tmp_path / "keys.txt").write_text(f"client-a: {KEY}\n")
    (tmp_path / "jwt.key").write_text("0123456789abcdef0123456789abcdef")
    hs = [{"secret": "jwt.key", "alg": "HS256"}]
    policy = {
        "gateway": {"listen": "127.0.0.1:8080"},
        "upstreams": {"be": {"servers": [{"address": "127.0.0.1:9"}]}},
        "policies": {
            "k": {"kind": "api_key", "keys_file": "keys.txt"},
            "jh": {"kind": "jwt", "keys": hs, "token": {"from": "header", "name": "X-Token"}},
            "jc": {"kind": "jwt", "keys": hs, "token": {"from": "cookie", "name": "session"}},
            "sec": {"kind": "openapi_security", "schemes": {"dflt": "k", "tok": "jh", "ck": "jc", "wrong": "jh"}},
        },
        "apis": [{"name": "m", "spec": "s.json", "upstream": "be", "use": ["sec"]}],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    result = compile_policy(tmp_path / "policy.json")
    warnings = [str(d) for d in result.diagnostics if d.code == "security-scheme-mismatch"]
    assert len(warnings) == 1, warnings
    assert "sends the key in header 'X-Other', but policy 'jh' reads header 'X-Token'" in warnings[0]
