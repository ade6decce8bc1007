"""Request validation with a real nginx: accepted requests reach the backend byte for byte,
each kind of violation gets its status and JSON pointer, report mode logs and lets through, and
the validator runs after the access phase (an anonymous client gets 401/403 first)."""

from __future__ import annotations

import json

import pytest

from tests.live.validation_support import PETSTORE, build_gateway, nginx_t_ok
from tests.support.http import request, send_raw
from tests.support.locations import operation_location
from tests.support.nginx import requires_nginx

pytestmark = [pytest.mark.live, requires_nginx]

ENFORCE = {
    "validate": {"kind": "validation", "mode": "enforce", "unknown_query_params": "reject", "max_body_size": "2k"}
}


def _enforcing_gateway(tmp_path, backend_address: str):
    return build_gateway(
        tmp_path, backend_address, ENFORCE, [{"name": "pets", "spec": str(PETSTORE), "base_path": "/v1", "use": ["validate"]}]
    )


@pytest.fixture
def petstore(tmp_path, echo_backend, nginx_runner):
    backend = echo_backend("pets")
    bundle, port = _enforcing_gateway(tmp_path, backend.address)
    nginx_t_ok(bundle)
    return nginx_runner(bundle, port)


def violations(resp) -> list[str]:
    assert resp.headers.get_content_type() == "application/json"
    data = resp.json()
    assert data["status"] == resp.status
    assert [data["request_id"]] == resp.headers.get_all("X-Request-ID")  # once, not twice
    return data["violations"]


def test_valid_requests_reach_backend_unchanged(petstore) -> None:
    # Odd spacing, key order and unicode escapes: the upstream must see exactly these bytes.
    body = b'{ "tag":"cat",\n  "name" : "Tom\\u00e9"  }'
    r = request(
        "POST", f"{petstore.url}/v1/pets", headers={"Content-Type": "application/json; charset=utf-8"}, body=body
    )
    assert r.status == 200, r.text
    echo = r.json()
    assert echo["headers"]["x-apigen-operation"] == "pets.createPet"
    assert echo["body"].encode() == body
    assert echo["headers"]["content-length"] == str(len(body))
    assert echo["uri"] == "/v1/pets"

    r = request(
        "PUT", f"{petstore.url}/v1/pets/42?", headers={"Content-Type": "application/json"}, body=b'{"name":"x"}'
    )
    assert (r.status, r.json()["body"]) == (200, '{"name":"x"}')
    for url, op in [
        ("/v1/pets?limit=100", "listPets"),
        ("/v1/pets", "listPets"),
        ("/v1/pets/7", "showPetById"),
        ("/v1/pets/-7/photos/a%20b.jpg", "getPetPhoto"),
        ("/v1/stores/main/inventory", "getInventory"),
        ("/v1/pets/mine", "listMyPets"),
    ]:
        r = request("GET", petstore.url + url)
        assert r.status == 200, (url, r.text)
        assert r.json()["headers"]["x-apigen-operation"] == f"pets.{op}"
        assert r.json()["uri"] == url
    assert request("DELETE", f"{petstore.url}/v1/pets/1").status == 200


@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "status", "expected"),
    [
        ("GET", "/v1/pets/abc", {}, None, 400, ["/path/petId: expected integer"]),
        ("GET", "/v1/pets?limit=101", {}, None, 400, ["/query/limit: must be <= 100"]),
        ("GET", "/v1/pets?limit=x", {}, None, 400, ["/query/limit: expected integer"]),
        ("GET", "/v1/pets?limit=1&limit=2", {}, None, 400, ["/query/limit: given more than once"]),
        ("GET", "/v1/pets?debug=1", {}, None, 400, ["/query/debug: unknown parameter"]),
        ("POST", "/v1/pets", {"Content-Type": "application/json"}, b"", 400, ["/body: required"]),
        (
            "POST",
            "/v1/pets",
            {"Content-Type": "application/json"},
            b"{nope",
            400,
            ["/body: invalid JSON: Unexpected token at position 1"],
        ),
        ("POST", "/v1/pets", {"Content-Type": "application/json"}, b"{}", 400, ["/body/name: required"]),
        (
            "POST",
            "/v1/pets",
            {"Content-Type": "application/json"},
            b'{"name": 5}',
            400,
            ["/body/name: expected string"],
        ),
        (
            "POST",
            "/v1/pets",
            {"Content-Type": "application/json"},
            json.dumps({"name": "n" * 65, "tag": []}).encode(),
            400,
            ["/body/name: longer than 64 characters", "/body/tag: expected string"],
        ),
        (
            "POST",
            "/v1/pets",
            {"Content-Type": "text/plain"},
            b'{"name":"a"}',
            415,
            ["/header/Content-Type: text/plain: expected one of application/json"],
        ),
        (
            "POST",
            "/v1/pets",
            {},
            b'{"name":"a"}',
            415,
            ["/header/Content-Type: missing: expected one of application/json"],
        ),
    ],
)
def test_violations(petstore, method, url, headers, body, status, expected) -> None:
    r = request(method, petstore.url + url, headers=headers, body=body)
    assert r.status == status, r.text
    assert violations(r) == expected
    assert "backend" not in r.json()


def test_body_size_limit_is_413_json(petstore) -> None:
    r = request(
        "POST",
        f"{petstore.url}/v1/pets",
        headers={"Content-Type": "application/json"},
        body=b'{"name":"' + b"a" * 3000 + b'"}',
    )
    assert r.status == 413
    assert r.json()["status"] == 413


def start_petstore(tmp_path, echo_backend, nginx_runner, policies: dict, **api):
    backend = echo_backend("pets")
    api = {"name": "pets", "spec": str(PETSTORE), "base_path": "/v1", **api}
    bundle, port = build_gateway(tmp_path, backend.address, policies, [api])
    return nginx_runner(bundle, port)


def test_violation_count_is_bounded(tmp_path, echo_backend, nginx_runner) -> None:
    policies = {"validate": {"kind": "validation", "max_violations": 2, "unknown_query_params": "reject"}}
    gw = start_petstore(tmp_path, echo_backend, nginx_runner, policies, use=["validate"])
    r = request("GET", f"{gw.url}/v1/pets?a=1&b=2&c=3&d=4")
    assert r.status == 400
    assert violations(r) == ["/query/a: unknown parameter", "/query/b: unknown parameter"]


def test_report_mode_logs_and_passes(tmp_path, echo_backend, nginx_runner) -> None:
    policies = {"report": {"kind": "validation", "mode": "report"}}
    gw = start_petstore(tmp_path, echo_backend, nginx_runner, policies, use=["report"])
    r = request(
        "POST",
        f"{gw.url}/v1/pets",
        headers={"Content-Type": "application/json", "X-Request-ID": "rep-1"},
        body=b'{"name": 5}',
    )
    assert r.status == 200
    assert r.json()["body"] == '{"name": 5}'
    line = gw.wait_for_log_line("request_id=rep-1", name="logs/error.log")
    assert "apigen validation report pets.createPet" in line
    assert "/body/name: expected string" in line


def test_operation_level_off_and_skip(tmp_path, echo_backend, nginx_runner) -> None:
    policies = {"validate": {"kind": "validation"}, "lenient": {"kind": "validation", "mode": "off"}}
    operations = {"showPetById": {"use": ["lenient"]}, "listPets": {"skip": ["validation"]}}
    gw = start_petstore(tmp_path, echo_backend, nginx_runner, policies, use=["validate"], operations=operations)
    assert request("GET", f"{gw.url}/v1/pets/abc").status == 200  # mode off at the operation
    assert request("GET", f"{gw.url}/v1/pets?limit=x").status == 200  # skipped by kind
    assert request("DELETE", f"{gw.url}/v1/pets/abc").status == 400  # still validated


def test_tag_level_attachment(tmp_path, echo_backend, nginx_runner) -> None:
    policies = {"validate": {"kind": "validation"}}
    gw = start_petstore(tmp_path, echo_backend, nginx_runner, policies, tags={"admin": {"use": ["validate"]}})
    assert request("DELETE", f"{gw.url}/v1/pets/abc").status == 400  # deletePet is tagged admin
    assert request("GET", f"{gw.url}/v1/pets/abc").status == 200  # showPetById is not


def _with_directive_in_show_pet(bundle, directive: str):
    """(file, its text with ``directive`` first in showPetById's internal location): a stand-in
    for a policy kind that this test keeps out of the way."""
    conf = bundle / "api_conf.d" / "pets.conf"
    text = conf.read_text()
    uri, _ = operation_location(text, "pets", "showPetById")
    marker = f'location "{uri}" {{\n'
    assert marker in text
    return conf, text.replace(marker, f"{marker}        {directive}\n", 1)


def test_access_phase_runs_before_validation(tmp_path, echo_backend, nginx_runner) -> None:
    """Stand-in for authentication: an auth_request to the echo backend, which answers 401
    unless the client sent `Authorization` (the auth kinds live on another branch). An anonymous
    client must get 401 even for a request that also fails validation."""
    backend = echo_backend("pets")
    bundle, port = _enforcing_gateway(tmp_path, backend.address)
    conf, text = _with_directive_in_show_pet(bundle, "auth_request /_test_auth;")
    conf.write_text(
        text
        + "\n    location = /_test_auth {\n        internal;\n"
        '        proxy_pass_request_body off;\n        proxy_set_header Content-Length "";\n'
        f"        proxy_pass http://{backend.address}/auth?__status=$test_auth_status;\n    }}\n"
    )
    gw_conf = bundle / "api_gateway.conf"
    gw_conf.write_text(
        gw_conf.read_text().replace(
            "server {", 'map $http_authorization $test_auth_status {\n    "" 401;\n    default 204;\n}\n\nserver {', 1
        )
    )
    nginx_t_ok(bundle)
    gw = nginx_runner(bundle, port)
    r = request("GET", f"{gw.url}/v1/pets/abc")
    assert r.status == 401
    assert r.json()["status"] == 401
    r = request("GET", f"{gw.url}/v1/pets/abc", headers={"Authorization": "Bearer x"})
    assert r.status == 400
    assert violations(r) == ["/path/petId: expected integer"]
    r = request("GET", f"{gw.url}/v1/pets/12", headers={"Authorization": "Bearer x"})
    assert r.status == 200
    assert r.json()["headers"]["x-apigen-operation"] == "pets.showPetById"


SPEC = __import__("pathlib").Path(__file__).parent / "specs" / "validation.yaml"
GOOD_ITEM = {
    "id": "123e4567-e89b-12d3-a456-426614174000",
    "when": "2024-05-01T12:00:00Z",
    "owner": "ann@example.com",
    "note": None,
    "parts": [{"name": "p", "weight": 1.5}, {"name": "q", "count": 2}],
    "price": {"amount": 9.5, "currency": "EUR"},
}
HEADERS = {"Content-Type": "application/json", "X-Tenant": "t-1"}


@pytest.fixture
def items(tmp_path, echo_backend, nginx_runner):
    backend = echo_backend("items")
    bundle, port = build_gateway(
        tmp_path, backend.address, ENFORCE, [{"name": "items", "spec": str(SPEC), "use": ["validate"]}]
    )
    nginx_t_ok(bundle)
    return nginx_runner(bundle, port)


def test_parameters_and_media_types_pass(items) -> None:
    body = json.dumps(GOOD_ITEM, indent=1).encode()
    url = f"{items.url}/items/book?ids=1&ids=2&tags=a|bc&dry=true"
    r = request("POST", url, headers={**HEADERS, "X-Mode": "safe", "Cookie": "session=abcd"}, body=body)
    assert r.status == 200, r.text
    assert r.json()["body"].encode() == body
    r = request("POST", f"{items.url}/items/disc", headers={**HEADERS, "Content-Type": "text/plain"}, body=b"free text")
    assert (r.status, r.json()["body"]) == (200, "free text")
    r = request(
        "POST",
        f"{items.url}/items/disc",
        headers={**HEADERS, "Content-Type": "application/merge-patch+json"},
        body=b"{}",
    )
    assert r.status == 200


@pytest.mark.parametrize(
    ("url", "headers", "item", "expected"),
    [
        ("/items/cd", {}, {}, ['/path/kind: expected one of ["book", "disc"]']),
        ("/items/book?ids=1&ids=x", {}, {}, ["/query/ids/1: expected integer"]),
        ("/items/book?ids=1&ids=2&ids=3&ids=4", {}, {}, ["/query/ids: more than 3 items"]),
        ("/items/book?tags=a|B", {}, {}, ["/query/tags/1: does not match ^[a-z]+$"]),
        ("/items/book?dry=yes", {}, {}, ["/query/dry: expected boolean"]),
        ("/items/book", {"X-Tenant": None}, {}, ["/header/X-Tenant: required"]),
        ("/items/book", {"X-Tenant": "tenant"}, {}, ["/header/X-Tenant: does not match ^t-[0-9]+$"]),
        ("/items/book", {"X-Mode": "slow"}, {}, ['/header/X-Mode: expected one of ["fast", "safe"]']),
        ("/items/book", {"Cookie": "session=ab"}, {}, ["/cookie/session: shorter than 4 characters"]),
        ("/items/book", {}, {"id": "nope"}, ["/body/id: not a valid uuid"]),
        ("/items/book", {}, {"when": "yesterday"}, ["/body/when: not a valid date-time"]),
        ("/items/book", {}, {"owner": "nobody"}, ["/body/owner: not a valid email"]),
        ("/items/book", {}, {"note": "x" * 11}, ["/body/note: longer than 10 characters"]),
        ("/items/book", {}, {"extra": 1}, ["/body/extra: unknown property"]),
        ("/items/book", {}, {"parts": [{"weight": 1}]}, ["/body/parts/0/name: required"]),
        ("/items/book", {}, {"parts": [{"name": "p"}]}, ["/body/parts/0: matches none of anyOf"]),
        ("/items/book", {}, {"parts": [{"name": "p", "weight": 0}]}, ["/body/parts/0/weight: must be > 0"]),
        ("/items/book", {}, {"price": {"amount": 1}}, ["/body/price: matches none of oneOf"]),
        ("/items/book", {}, {"price": -1}, ["/body/price: matches none of oneOf"]),
    ],
)
def test_parameter_and_body_violations(items, url, headers, item, expected) -> None:
    sent = {**HEADERS, **headers}
    sent = {k: v for k, v in sent.items() if v is not None}
    r = request("POST", items.url + url, headers=sent, body=json.dumps({**GOOD_ITEM, **item}).encode())
    assert r.status == 400, r.text
    assert violations(r) == expected


def nested_tree(depth: int, leaf: dict) -> dict:
    node = leaf
    for level in range(depth):
        node = {"label": f"l{level}", "children": [None, node]}
    return node


def test_deep_recursive_body(items) -> None:
    good = json.dumps({**GOOD_ITEM, "tree": nested_tree(10, {"label": "leaf"})}).encode()
    r = request("POST", f"{items.url}/items/book", headers=HEADERS, body=good)
    assert r.status == 200, r.text
    bad = json.dumps({**GOOD_ITEM, "tree": nested_tree(10, {"label": 1})}).encode()
    r = request("POST", f"{items.url}/items/book", headers=HEADERS, body=bad)
    assert r.status == 400, r.text
    # anyOf reports where it is: the outermost child whose subtree matches neither branch.
    assert violations(r) == ["/body/tree/children/1: matches none of anyOf"]
    # Deeper than njs's stack allows the checks to recurse (but within JSON.parse's 32 levels):
    # refused, never passed unchecked.
    deep = json.dumps({**GOOD_ITEM, "tree": nested_tree(13, {"label": "leaf"})}).encode()
    r = request("POST", f"{items.url}/items/book", headers=HEADERS, body=deep)
    assert (r.status, violations(r)) == (400, ["/body: nested too deeply to be checked"])


def test_missing_required_body_and_415(items) -> None:
    r = request("POST", f"{items.url}/items/book", headers=HEADERS, body=b"")
    assert (r.status, violations(r)) == (400, ["/body: required"])
    r = request("POST", f"{items.url}/items/book", headers={**HEADERS, "Content-Type": "application/xml"}, body=b"<a/>")
    assert r.status == 415
    assert violations(r) == [
        "/header/Content-Type: application/xml: expected one of application/json, application/merge-patch+json, text/plain"
    ]


def test_chunked_body_is_validated_and_forwarded(petstore) -> None:
    def chunked(body: bytes) -> bytes:
        head = (
            b"POST /v1/pets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        return head + b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in (body[:5], body[5:])) + b"0\r\n\r\n"

    good = b'{"name": "Chunky"}'
    raw = send_raw(petstore.port, chunked(good))
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw[:300]
    assert json.loads(payload)["body"].encode() == good
    raw = send_raw(petstore.port, chunked(b'{"name": 42}'))
    assert raw.startswith(b"HTTP/1.1 400"), raw[:300]
    assert b"/body/name: expected string" in raw


def test_rate_limit_runs_before_validation(tmp_path, echo_backend, nginx_runner) -> None:
    """Stand-in for the rate-limit kind (another branch): limit_req in the operation's location
    (preaccess phase). Once over the limit, an invalid request gets 429, not 400."""
    backend = echo_backend("pets")
    bundle, port = _enforcing_gateway(tmp_path, backend.address)
    conf, text = _with_directive_in_show_pet(bundle, "limit_req zone=test_one;")
    conf.write_text(text)
    gw_conf = bundle / "api_gateway.conf"
    gw_conf.write_text(
        gw_conf.read_text().replace(
            "server {",
            "limit_req_zone $binary_remote_addr zone=test_one:1m rate=1r/m;\nlimit_req_status 429;\n\nserver {",
            1,
        )
    )
    nginx_t_ok(bundle)
    gw = nginx_runner(bundle, port)
    r = request("GET", f"{gw.url}/v1/pets/abc")
    assert (r.status, violations(r)) == (400, ["/path/petId: expected integer"])
    r = request("GET", f"{gw.url}/v1/pets/abc")
    assert r.status == 429
    assert r.json()["status"] == 429


def test_validation_with_rewrite_and_body_limit(tmp_path, echo_backend, nginx_runner) -> None:
    """Found by a hunt: with `rewrite` on the operation, the validator forwarded to a location
    named after the rewritten URI (500 for every valid request); with `body_limit`, the location
    held two client_max_body_size (nginx refused the bundle)."""
    policies = {
        "validate": {"kind": "validation", "max_body_size": "4k"},
        "animals": {"kind": "rewrite", "template": "/internal/animals/{petId}"},
        "small": {"kind": "body_limit", "max": "1k"},
    }
    operations = {"updatePet": {"use": ["animals", "small"]}}
    backend = echo_backend("pets")
    api = {"name": "pets", "spec": str(PETSTORE), "base_path": "/v1", "use": ["validate"], "operations": operations}
    bundle, port = build_gateway(tmp_path, backend.address, policies, [api])
    nginx_t_ok(bundle)
    gw = nginx_runner(bundle, port)
    r = request("PUT", f"{gw.url}/v1/pets/42?x=1", headers={"Content-Type": "application/json"}, body=b'{"name":"x"}')
    assert r.status == 200, r.text
    assert (r.json()["uri"], r.json()["body"]) == ("/internal/animals/42?x=1", '{"name":"x"}')
    assert request("PUT", f"{gw.url}/v1/pets/42", headers={"Content-Type": "application/json"}, body=b'{"name":5}').status == 400
    # The smaller of the two limits holds (body_limit 1k, the validator's 4k).
    big = b'{"name":"' + b"a" * 2000 + b'"}'
    assert request("PUT", f"{gw.url}/v1/pets/42", headers={"Content-Type": "application/json"}, body=big).status == 413
    # createPet has only the validator's 4k: validated (400: the name is too long), not 413.
    assert request("POST", f"{gw.url}/v1/pets", headers={"Content-Type": "application/json"}, body=big).status == 400
