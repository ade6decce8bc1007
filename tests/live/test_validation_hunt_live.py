"""Request validation findings of the sixth session's hunt, each checked live (nginx + njs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apigen.diagnostics import CompileError
from tests.live.validation_support import build_gateway, nginx_t_ok
from tests.support.http import request
from tests.support.nginx import requires_nginx

pytestmark = [pytest.mark.live, requires_nginx]

OK = {"200": {"description": "ok"}}


def _json_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


SPEC_30 = {
    "openapi": "3.0.3",
    "info": {"title": "hunt", "version": "1"},
    "paths": {
        "/u": {"post": {"operationId": "u", "requestBody": _json_body({"type": "array", "uniqueItems": True}), "responses": OK}},
        "/n/{id}": {
            "post": {
                "operationId": "n",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[a-z]+$"}},
                    {"name": "q", "in": "query", "schema": {"type": "string", "pattern": "^[a-z]+$"}},
                    {"name": "alt", "in": "query", "schema": {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["all"]}]}},
                    {"name": "X-List", "in": "header", "schema": {"type": "array", "items": {"type": "integer"}}},
                    {"name": "tok", "in": "cookie", "schema": {"type": "string", "pattern": "^[a-z]+$"}},
                ],
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "a": {"type": "string", "pattern": "^[a-z]+$"},
                            "whole": {"type": "number", "multipleOf": 1},
                            "cents": {"type": "number", "multipleOf": 0.01},
                        },
                    }
                ),
                "responses": OK,
            }
        },
        "/b": {"post": {"operationId": "b", "requestBody": _json_body({"$ref": "#/components/schemas/B"}), "responses": OK}},
        # Second hunt: formats anchored end-only; readOnly from an allOf base with `required`
        # beside the allOf; a parameter schema `allOf: [{$ref}]`; a schema shared with a 3.1 API.
        "/fmt/{id}": {
            "post": {
                "operationId": "fmt",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
                    {"name": "lim", "in": "query", "schema": {"allOf": [{"$ref": "#/components/schemas/Limit"}], "default": 10}},
                ],
                "requestBody": _json_body({"type": "object", "properties": {"dt": {"type": "string", "format": "date-time"}, "ip": {"type": "string", "format": "ipv4"}}}),
                "responses": OK,
            }
        },
        # allowEmptyValue (query parameters): false by default.
        "/e": {
            "get": {
                "operationId": "e",
                "parameters": [
                    {"name": "a", "in": "query", "schema": {"type": "string"}},
                    {"name": "b", "in": "query", "allowEmptyValue": True, "schema": {"type": "string", "minLength": 2}},
                    {"name": "n", "in": "query", "allowEmptyValue": True, "schema": {"type": "integer"}},
                    {"name": "X-H", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": OK,
            }
        },
        "/opt": {"post": {"operationId": "opt", "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}, "responses": OK}},
        "/disc2": {
            "post": {
                "operationId": "disc2",
                "requestBody": _json_body(
                    {
                        "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
                        "discriminator": {"propertyName": "petType"},
                        "anyOf": [{"required": ["name"]}, {"required": ["bark"]}],
                    }
                ),
                "responses": OK,
            }
        },
        # A pattern with catastrophic backtracking: PCRE's match limit threw, answered 500.
        "/redos": {
            "post": {
                "operationId": "redos",
                "parameters": [{"name": "q", "in": "query", "schema": {"type": "string", "pattern": "^(a|a)*$"}}],
                "requestBody": _json_body({"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}),
                "responses": OK,
            }
        },
        "/np": {"post": {"operationId": "np", "requestBody": _json_body({"$ref": "#/components/schemas/NewPet"}), "responses": OK}},
        "/shared": {"post": {"operationId": "shared", "requestBody": _json_body({"$ref": "common.json#/T"}), "responses": OK}},
        # A schema compiled for one allOf (its readOnly names) was reused alone (a review).
        "/b2": {"post": {"operationId": "b2", "requestBody": _json_body({"$ref": "#/components/schemas/B2"}), "responses": OK}},
        "/r": {"post": {"operationId": "r", "requestBody": _json_body({"$ref": "#/components/schemas/Req"}), "responses": OK}},
        # OpenAPI's own discriminator example: Cat and Dog both match {"petType": "Cat"}.
        "/pets": {
            "post": {
                "operationId": "pets",
                "requestBody": _json_body(
                    {
                        "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
                        "discriminator": {"propertyName": "petType", "mapping": {"hound": "#/components/schemas/Dog"}},
                    }
                ),
                "responses": OK,
            }
        },
    },
    "components": {
        "schemas": {
            "Base": {"type": "object", "properties": {"id": {"type": "integer", "readOnly": True}, "name": {"type": "string"}}},
            "B": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"required": ["id", "name"]}]},
            "Req": {"required": ["id", "name"]},
            "NewPet": {"allOf": [{"$ref": "#/components/schemas/Base"}], "required": ["id", "name"]},
            "Limit": {"type": "integer", "minimum": 1},
            "B2": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"$ref": "#/components/schemas/Req"}]},
            "Cat": {"type": "object", "required": ["petType"], "properties": {"petType": {"type": "string"}, "name": {"type": "string"}}},
            "Dog": {"type": "object", "required": ["petType"], "properties": {"petType": {"type": "string"}, "bark": {"type": "boolean"}}},
        }
    },
}

SPEC_31 = {
    "openapi": "3.1.0",
    "info": {"title": "hunt31", "version": "1"},
    "paths": {
        "/a": {"post": {"operationId": "a", "requestBody": _json_body({"$ref": "#/components/schemas/A"}), "responses": OK}},
        "/shared": {"post": {"operationId": "shared", "requestBody": _json_body({"$ref": "common.json#/T"}), "responses": OK}},
        # 3.1 has no `nullable` (a 3.0 habit: null was accepted).
        "/m": {"post": {"operationId": "m", "requestBody": _json_body({"type": "object", "properties": {"s": {"type": "string", "nullable": True}}}), "responses": OK}},
        # A schema under a media range is not applied (a build warning), and */* takes a body
        # without Content-Type (it got 415).
        "/any": {"post": {"operationId": "any", "requestBody": {"required": True, "content": {"*/*": {"schema": {"type": "object", "required": ["a"]}}}}, "responses": OK}},
    },
    "components": {
        "schemas": {
            "Id": {"type": "integer"},
            "A": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"$ref": "#/components/schemas/Id", "readOnly": True}, "name": {"type": "string"}},
            },
        }
    },
}

SWAGGER = {
    "swagger": "2.0",
    "info": {"title": "sw", "version": "1"},
    "paths": {
        "/items": {
            "get": {
                "operationId": "list",
                "parameters": [{"name": "ids", "in": "query", "type": "array", "items": {"type": "integer"}}],
                "responses": OK,
            }
        }
    },
}


def _common(tmp_path: Path) -> None:
    (tmp_path / "common.json").write_text(json.dumps({"T": {"type": "object", "properties": {"s": {"type": "string", "nullable": True}}}}))


@pytest.fixture
def gw(tmp_path: Path, echo_backend, nginx_runner):
    backend = echo_backend("hunt")
    for name, doc in (("s30.json", SPEC_30), ("s31.json", SPEC_31), ("sw.json", SWAGGER)):
        (tmp_path / name).write_text(json.dumps(doc))
    _common(tmp_path)
    apis = [
        {"name": "a30", "spec": str(tmp_path / "s30.json"), "base_path": "/30", "use": ["v"]},
        {"name": "a31", "spec": str(tmp_path / "s31.json"), "base_path": "/31", "use": ["v"]},
        {"name": "sw", "spec": str(tmp_path / "sw.json"), "base_path": "/sw", "use": ["v"]},
    ]
    bundle, port = build_gateway(tmp_path, backend.address, {"v": {"kind": "validation"}}, apis)
    nginx_t_ok(bundle)
    return nginx_runner(bundle, port)


def _post(gw, path: str, body: object, headers: dict | None = None):
    return request("POST", f"{gw.url}{path}", headers={"Content-Type": "application/json", **(headers or {})}, body=json.dumps(body).encode())


def test_unique_items_is_checked_in_linear_time(gw) -> None:
    """Every pair was compared: an 85 KB array held a worker for 25 s. 50,000 items now answer
    (no timing asserted: the request would time out, 30 s, with the quadratic check)."""
    assert _post(gw, "/30/u", list(range(50_000))).status == 200
    assert _post(gw, "/30/u", [{"a": 1, "b": [1, 2]}, 3, {"b": [1, 2], "a": 1.0}]).json()["violations"] == ["/body: items are not unique"]
    assert _post(gw, "/30/u", [1, "1", [1], {"1": 1}, None, True, "true"]).status == 200


def test_a_dollar_anchor_does_not_accept_a_final_line_feed(gw) -> None:
    assert _post(gw, "/30/n/abc", {"a": "abc"}).status == 200
    r = _post(gw, "/30/n/abc", {"a": "abc\n"})
    assert r.json()["violations"] == ["/body/a: does not match ^[a-z]+$"]
    assert _post(gw, "/30/n/abc?q=abc%0A", {}).status == 400
    assert _post(gw, "/30/n/abc%0A", {}).status == 400


def test_parameter_types_lists_and_repeated_cookies(gw) -> None:
    assert _post(gw, "/30/n/abc?alt=all", {}).status == 200
    assert _post(gw, "/30/n/abc?alt=5", {}).status == 200
    assert _post(gw, "/30/n/abc?alt=some", {}).status == 400
    assert _post(gw, "/30/n/abc", {}, {"X-List": "1, 2 ,3"}).status == 200
    assert _post(gw, "/30/n/abc", {}, {"X-List": "1, x"}).status == 400
    assert _post(gw, "/30/n/abc", {}, {"Cookie": "tok=abc"}).status == 200
    r = _post(gw, "/30/n/abc", {}, {"Cookie": "tok=<script>; tok=abc"})
    assert r.json()["violations"] == ["/cookie/tok: given more than once"]


def test_multiple_of_is_exact_enough(gw) -> None:
    assert _post(gw, "/30/n/abc", {"whole": 3, "cents": 19.99}).status == 200
    assert _post(gw, "/30/n/abc", {"whole": 1e15, "cents": 123456789.12}).status == 200
    # A tolerance relative to the quotient passed every value above 5e11 (a review).
    for body in ({"whole": 3.0000000005}, {"whole": 0.0000000001}, {"cents": 0.005}, {"whole": 1000000000000.5}, {"cents": 5000000000.001}):
        assert _post(gw, "/30/n/abc", body).status == 400, body


def test_read_only_properties_are_not_required_in_requests(gw) -> None:
    assert _post(gw, "/30/b", {"name": "x"}).status == 200
    assert _post(gw, "/30/b2", {"name": "x"}).status == 200
    assert _post(gw, "/30/r", {"name": "x"}).json()["violations"] == ["/body/id: required"]
    assert _post(gw, "/30/b", {}).json()["violations"] == ["/body/name: required"]
    assert _post(gw, "/31/a", {"name": "x"}).status == 200
    assert _post(gw, "/31/a", {}).json()["violations"] == ["/body/name: required"]


def test_swagger_arrays_are_comma_separated_by_default(gw) -> None:
    assert request("GET", f"{gw.url}/sw/items?ids=1,2,3").status == 200
    assert request("GET", f"{gw.url}/sw/items?ids=1,x").status == 400


def test_report_lines_cannot_be_forged(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("hunt")
    (tmp_path / "s30.json").write_text(json.dumps(SPEC_30))
    _common(tmp_path)
    policies = {"r": {"kind": "validation", "mode": "report", "unknown_query_params": "reject"}}
    bundle, port = build_gateway(tmp_path, backend.address, policies, [{"name": "a30", "spec": str(tmp_path / "s30.json"), "use": ["r"]}])
    gw = nginx_runner(bundle, port)
    r = request("POST", f"{gw.url}/n/abc?x%0A2026/11/28%20[emerg]%20forged=1", headers={"Content-Type": "application/json", "X-Request-ID": "forge-1"}, body=b"{}")
    assert r.status == 200
    line = gw.wait_for_log_line("request_id=forge-1", name="logs/error.log")
    assert '["/query/x\\n2026~111~128 [emerg] forged: unknown parameter"]' in line, line
    assert "[emerg] forged" not in gw.error_log().replace(line, "")


def test_an_infinite_bound_is_a_build_error(tmp_path: Path) -> None:
    spec = (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /n:\n    post:\n      operationId: n\n"
        "      requestBody: {content: {application/json: {schema: {type: object, properties: {a: {type: number, maximum: .inf}}}}}}\n"
        "      responses: {'200': {description: ok}}\n"
    )
    (tmp_path / "s.yaml").write_text(spec)
    with pytest.raises(CompileError) as err:
        build_gateway(tmp_path, "127.0.0.1:9", {"v": {"kind": "validation"}}, [{"name": "a", "spec": str(tmp_path / "s.yaml"), "use": ["v"]}])
    assert "maximum (not a finite number)" in str(err.value.diagnostics)


def test_openapi_31_documents_and_media_ranges(gw) -> None:
    assert _post(gw, "/31/m", {"s": "x"}).status == 200
    assert _post(gw, "/31/m", {"s": None}).json()["violations"] == ["/body/s: expected string"]
    assert request("POST", f"{gw.url}/31/any", body=b"raw bytes").status == 200
    assert _post(gw, "/31/any", {}).status == 200  # the schema under */* is not applied (warned)


def test_a_schema_under_a_media_range_is_warned(tmp_path: Path) -> None:
    from apigen.pipeline import compile_policy

    (tmp_path / "s31.json").write_text(json.dumps(SPEC_31))
    _common(tmp_path)
    policy = {
        "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9"}]}},
        "policies": {"v": {"kind": "validation"}},
        "apis": [{"name": "a", "spec": "s31.json", "upstream": "u", "use": ["v"]}],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    warnings = [d.message for d in compile_policy(tmp_path / "policy.json", render=False).diagnostics.warnings]
    assert "request validation of a.any cannot check the schema of media range */* (not checked)" in warnings


def test_a_discriminator_picks_the_schema(gw) -> None:
    assert _post(gw, "/30/pets", {"petType": "Cat", "name": "Tom"}).status == 200
    assert _post(gw, "/30/pets", {"petType": "Dog", "bark": True}).status == 200
    assert _post(gw, "/30/pets", {"petType": "hound", "bark": True}).status == 200  # by mapping
    assert _post(gw, "/30/pets", {"petType": "Dog", "bark": "loud"}).json()["violations"] == ["/body/bark: expected boolean"]
    assert _post(gw, "/30/pets", {"petType": "Cow"}).json()["violations"] == ['/body/petType: expected one of ["Cat", "Dog", "hound"]']
    assert _post(gw, "/30/pets", {"name": "Tom"}).json()["violations"] == ["/body/petType: required"]
    assert _post(gw, "/30/pets", [1]).json()["violations"] == ["/body: matches none of oneOf"]


def test_second_hunt_formats_read_only_bases_ref_parameters_and_shared_schemas(gw) -> None:
    uuid = "12345678-1234-1234-1234-123456789012"
    assert _post(gw, f"/30/fmt/{uuid}?lim=5", {"dt": "2020-01-01T00:00:00Z", "ip": "10.0.0.1"}).status == 200
    assert _post(gw, f"/30/fmt/{uuid}%0A", {}).status == 400
    assert _post(gw, f"/30/fmt/{uuid}", {"dt": "2020-01-01T00:00:00Z\n"}).status == 400
    assert _post(gw, f"/30/fmt/{uuid}", {"ip": "10.0.0.1\n"}).status == 400
    assert _post(gw, f"/30/fmt/{uuid}?lim=0", {}).json()["violations"] == ["/query/lim: must be >= 1"]
    assert _post(gw, "/30/np", {"name": "x"}).status == 200
    assert _post(gw, "/30/shared", {"s": None}).status == 200  # 3.0: nullable
    assert _post(gw, "/31/shared", {"s": None}).json()["violations"] == ["/body/s: expected string"]


def test_empty_chunked_bodies_and_discriminator_siblings(gw) -> None:
    from tests.support.http import send_raw

    port = int(gw.url.rsplit(":", 1)[1])
    raw = send_raw(port, b"POST /30/opt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 "), raw[:300]  # no body: the optional body is absent (was 415)
    assert _post(gw, "/30/disc2", {"petType": "Cat", "name": "Tom"}).status == 200
    # The anyOf beside the discriminated oneOf still applies (it was skipped for objects).
    assert _post(gw, "/30/disc2", {"petType": "Cat"}).json()["violations"] == ["/body: matches none of anyOf"]


def test_rejections_use_the_gateways_error_template(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """Validation's 400/415 ignored the errors template every other gateway error uses (a client
    reading `error.code` broke on them; found by a hunt): the template, violations added."""
    backend = echo_backend("hunt")
    (tmp_path / "s30.json").write_text(json.dumps(SPEC_30))
    _common(tmp_path)
    template = '{"error": {"code": {status}, "message": {message}}, "trace": {request_id}}'
    policies = {"v": {"kind": "validation"}, "json": {"kind": "errors", "template": template}}
    apis = [{"name": "a30", "spec": str(tmp_path / "s30.json"), "use": ["v"]}]
    bundle, port = build_gateway(tmp_path, backend.address, policies, apis, gateway_use=["json"])
    gw = nginx_runner(bundle, port)
    r = request("POST", f"{gw.url}/n/ABC", headers={"Content-Type": "application/json", "X-Request-ID": "v-1"}, body=b"{}")
    assert r.status == 400
    assert r.json() == {"error": {"code": 400, "message": "Bad Request"}, "trace": "v-1", "violations": ["/path/id: does not match ^[a-z]+$"]}
    r = request("POST", f"{gw.url}/n/abc", headers={"Content-Type": "text/plain", "X-Request-ID": "v-2"}, body=b"x")
    assert (r.status, r.json()["error"], r.json()["trace"]) == (415, {"code": 415, "message": "Unsupported Media Type"}, "v-2")


def test_allow_empty_value_is_honoured(gw) -> None:
    """`?a=` (or `?a`) for a query parameter without allowEmptyValue is refused; with
    allowEmptyValue: true it is accepted unchecked (`minLength` and `integer` aside); a header's
    empty value is checked like any other (it was: every empty value checked against the schema,
    so `?a=` passed and `?n=` got "expected integer")."""

    def get(query: str, headers: dict | None = None):
        return request("GET", f"{gw.url}/30/e{query}", headers=headers or {})

    assert get("?a=x&b=xy&n=5").status == 200
    for query in ("?a=", "?a"):
        r = get(query)
        assert (r.status, r.json()["violations"]) == (400, ["/query/a: empty value (allowEmptyValue is false)"]), query
    assert get("?b=&n=").status == 200
    assert get("?b").status == 200
    assert get("?b=x").json()["violations"] == ["/query/b: shorter than 2 characters"]
    assert get("?n=x").json()["violations"] == ["/query/n: expected integer"]
    assert get("", {"X-H": ""}).status == 200


def test_a_pattern_the_regex_engine_gives_up_on_is_a_client_error(gw) -> None:
    """Found by a hunt: `^(a+)+$` against "aaa...b" exceeds PCRE's match limit, an njs
    InternalError that answered 500 (with an error-log line); the value cannot be checked: 400."""
    evil = "a" * 40 + "b"
    assert _post(gw, "/30/redos?q=aaaa", {"s": "aaaa"}).status == 200
    assert _post(gw, "/30/redos", {"s": "ab"}).json()["violations"] == ["/body/s: does not match ^(a+)+$"]
    r = _post(gw, "/30/redos", {"s": evil})
    assert (r.status, r.json()["violations"]) == (400, ["/body: too costly to match against its pattern"])
    r = _post(gw, f"/30/redos?q={evil}", {})
    assert (r.status, r.json()["violations"]) == (400, ["/query/q: too costly to match against its pattern"])
    assert "js:" not in gw.error_log()
