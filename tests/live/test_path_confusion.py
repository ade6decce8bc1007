"""Path confusion: every operation forwards the raw request URI ($request_uri), while routing and
the policies (authentication first) see nginx's normalised $uri (percent-decoded, `..` resolved,
slashes merged). A request whose raw path does not read as the normalised one could be
authorised as one operation and served by the upstream as another path (found in a live bug
hunt: `/inventory/items/%2E%2E%2Fstatus` reached a protected handler as the public
`/inventory/status`, without credentials). Such requests get a JSON 400 before any operation;
canonical paths, encoded characters inside a segment included, are routed as before; `apigen
explain` predicts the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from apigen.explain import resolve
from apigen.pipeline import compile_policy
from apigen.plan.routing import path_is_ambiguous
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.workspace import base_inputs, write_workspace

pytestmark = [pytest.mark.live, requires_nginx]
HOST = "api.example.com"

AMBIGUOUS = [
    "/v1/items/%2E%2E%2Fitems",  # encoded "../" inside a parameter
    "/v1/items/%2e%2e/items/42",
    "/v1/items/42/../../items",  # plain dot segments
    "/v1/items/./42",
    "/v1/items/42/..",
    "/v1/items/a%2Fb",  # encoded slash
    "/v1/items/a%5Cb",  # encoded backslash
    "/v1/items/a\\b",
    "/v1//items",  # empty segment (nginx merges it)
    "//v1/items",
    "/v1/items/..;/42",  # a dot segment with servlet path parameters
    "/v1/items/42/.%2e?x=1",
    # Hunts of the sixth session: servlet containers drop ";params" (/v1/items;x would be served
    # as /v1/items), nginx's $uri ends at a raw "#" (the upstream got the rest), and a rewrite
    # decodes "..%3B" into the servlet dot segment "..;".
    "/v1/items/42;x",
    "/v1/items/..%3B",
    # Seventh session: an encoded letter, digit, "-", "." or "_" (no encoder escapes them) would
    # be the literal route for the gateway and a parameter for a router matching the raw path.
    "/v1/items/a%2Eb",
    "/v1/it%65ms/42",
    "/v1/items/%34%32",
    # Twelfth session: an encoded control character. "$" in PCRE and Python also matches before a
    # final newline: /users/me%0A is the public /users/{id} for the gateway (the parameter holds
    # the newline) and the literal /users/me for a backend router whose patterns end in "$".
    "/v1/items/42%0A",
    "/v1/items/a%09b",
    "/v1/items/a%7Fb",
]
CANONICAL = [
    ("/v1/items", "main.listItems"),
    ("/v1/items/42", "main.getItem"),
    ("/v1/items/a%7Eb", "main.getItem"),  # Java's URLEncoder escapes "~"
    ("/v1/items/a%20b%40c", "main.getItem"),
    ("/v1/items/a%3Bb", "main.getItem"),  # an encoded ";" is a character of the value
    ("/v1/items/...", "main.getItem"),
    ("/v1/items/42?next=/a/../b%2F//c", "main.getItem"),  # the query string is not the path
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.support.backend import EchoBackend
    from tests.support.nginx import NginxInstance

    tmp = tmp_path_factory.mktemp("confusion")
    backend = EchoBackend("main").start()
    port = free_port()
    policy, spec = base_inputs()
    policy["gateway"]["listen"] = f"127.0.0.1:{port}"
    del policy["gateway"]["tls"]
    policy["upstreams"]["main"]["servers"][0]["address"] = backend.address
    compiled = compile_policy(write_workspace(tmp / "ws", policy, spec))
    assert compiled.bundle is not None
    bundle = tmp / "bundle"
    bundle.mkdir()
    compiled.bundle.write_tree(bundle)
    nginx = NginxInstance(bundle, port)
    try:
        nginx.start()
        yield nginx, compiled.plan
    finally:
        nginx.stop()
        nginx.cleanup()
        backend.stop()


def _get(nginx, target: str):
    return request("GET", f"{nginx.url}{target}", headers={"Host": HOST})


@pytest.mark.parametrize("target", AMBIGUOUS)
def test_ambiguous_raw_paths_get_400_and_never_reach_the_upstream(gateway, target: str) -> None:
    nginx, plan = gateway
    assert path_is_ambiguous(target)
    resp = _get(nginx, target)
    assert resp.status == 400, (target, resp.status, resp.text)
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["status"] == 400 and "headers" not in resp.json(), "the upstream answered"
    assert resolve(plan, "GET", target).status == 400


@pytest.mark.parametrize(("target", "operation"), CANONICAL)
def test_canonical_paths_are_routed_as_before(gateway, target: str, operation: str) -> None:
    nginx, plan = gateway
    request_uri = target
    assert not path_is_ambiguous(request_uri)
    resp = _get(nginx, target)
    assert resp.status == 200, (target, resp.status, resp.text)
    echoed = resp.json()
    assert echoed["headers"]["x-apigen-operation"] == operation
    assert echoed["uri"] == request_uri, "the upstream got another path than the one routed"
    res = resolve(plan, "GET", target)
    assert (res.status, f"{res.operation.api}.{res.operation.operation_id}") == (200, operation)


def test_a_raw_hash_in_the_path_gets_400(gateway) -> None:
    """nginx's $uri ends at a raw "#" (routing saw /v1/items/42), the upstream got the whole raw
    path (found by a hunt). HTTP clients drop a fragment themselves, so the request is raw."""
    from tests.support.http import send_raw

    nginx, plan = gateway
    raw = send_raw(nginx.port, f"GET /v1/items/42#/../x HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 400 "), raw[:200]
    assert b'"status":400' in raw and b"x-apigen-operation" not in raw
    assert resolve(plan, "GET", "/v1/items/42#/../x").status == 400


def test_unknown_path_and_undeclared_method_keep_their_answers(gateway) -> None:
    nginx, _ = gateway
    assert _get(nginx, "/v1/nothing/here").status == 404
    assert request("DELETE", f"{nginx.url}/v1/items/42", headers={"Host": HOST}).status == 405
    assert _get(nginx, "/v1/nothing/../items").status == 400
    # A path no route can match stays a 404 (answered by its prefix location, never forwarded).
    assert _get(nginx, "/v1/items/%2e%2e/nothing").status == 404


def test_the_check_is_plain_nginx_maps(tmp_path: Path) -> None:
    """The check is plain nginx (a map on $request_uri, a comparison in the server block): no
    njs, no module."""
    policy, spec = base_inputs()
    del policy["gateway"]["tls"]
    compiled = compile_policy(write_workspace(tmp_path / "ws", policy, spec))
    assert compiled.bundle is not None
    maps = compiled.bundle.files["api_maps.conf"]
    assert "map $apigen_log_path $apigen_path_check {" in maps  # the raw path, no query
    assert 'map "$apigen_path_ambiguous$apigen_route $request_method" $apigen_target {' in maps
    server = compiled.bundle.files["api_gateway.conf"]
    assert "    if ($apigen_log_path != $uri) {\n        set $apigen_path_ambiguous $apigen_path_check;\n" in server


# Pieces of raw path segments: what nginx decodes, merges or resolves, what it keeps, and
# look-alikes of both.
_PIECES = ["a", "", ".", "..", "...", ".a", "%2e", "%2E%2e", "%2F", "%41", "%20", "%7E", "%3B", "%25", ";x", "a;", "\\", "~", "%5c", "a.b", "..%3b", "-_", "%0A", "%7f"]


def test_the_fast_path_answers_as_the_full_check(gateway) -> None:
    """The server block runs the full regex only for raw paths that differ from $uri or hold
    ";", "#" or "\\" (a string comparison for the others). Over every two-segment combination
    of the pieces: an ambiguous path never reaches the upstream, a path that is not never gets
    400, and nginx answers what explain predicts (400, or 404 where the resolved path is no
    route at all)."""
    nginx, plan = gateway
    wrong = []
    for first in _PIECES:
        for second in _PIECES:
            target = f"/v1/items/{first}/{second}"
            resp = _get(nginx, target)
            forwarded = resp.status == 200 and "headers" in resp.json()
            ambiguous = path_is_ambiguous(target)
            if (ambiguous and forwarded) or (not ambiguous and resp.status == 400):
                wrong.append((target, resp.status))
            elif resp.status != resolve(plan, "GET", target).status:
                wrong.append((target, resp.status, "explain", resolve(plan, "GET", target).status))
    assert not wrong, wrong
