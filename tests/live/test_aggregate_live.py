"""Composite operations (kind: aggregate) through a real nginx + njs and real echo backends."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.compose import build, openapi
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

SPEC = openapi({"/users/{id}/summary": {"get": "userSummary"}, "/users/{id}": {"get": "getUser"}})


def policy(port: int, backends: dict[str, str], **aggregate: Any) -> dict[str, Any]:
    parts = aggregate.pop("parts", None) or [
        {"name": "profile", "upstream": "users", "path": "/users/{id}", "query": {"__sleep": "0.6"}},
        {
            "name": "orders",
            "upstream": "orders",
            "path": "/orders",
            "query": {"user": "{id}", "__sleep": "0.6", "q": "{query.q}"},
        },
        {"name": "prefs", "upstream": "prefs", "path": "/prefs/{id}", "query": {"__sleep": "0.6"}},
    ]
    return {
        "target": {"flavor": "oss", "version": "1.22"},
        "gateway": {"listen": f"127.0.0.1:{port}", "operation_header": "X-Apigen-Operation"},
        "upstreams": {
            name: {"servers": [{"address": addr}], "timeouts": {"read": "3s"}} for name, addr in backends.items()
        },
        "policies": {"summary": {"kind": "aggregate", "parts": parts, **aggregate}},
        "apis": [
            {
                "name": "users",
                "spec": "users.json",
                "upstream": "users",
                "operations": {"userSummary": {"use": ["summary"]}},
            }
        ],
    }


@pytest.fixture
def three(echo_backend):
    return {name: echo_backend(name) for name in ("users", "orders", "prefs")}


def start(tmp_path: Path, nginx_runner, three, **aggregate: Any):
    port = free_port()
    bundle = build(tmp_path, policy(port, {n: b.address for n, b in three.items()}, **aggregate), {"users.json": SPEC})
    return nginx_runner(bundle, port)


def test_keyed_parts_in_parallel(tmp_path, nginx_runner, three) -> None:
    nginx = start(tmp_path, nginx_runner, three)
    began = time.monotonic()
    r = request(
        "GET",
        f"{nginx.url}/users/42/summary?q=a%20b&x=1",
        headers={"X-Request-ID": "req-123", "Authorization": "Bearer t0k"},
    )
    elapsed = time.monotonic() - began
    assert r.status == 200, r.text
    body = r.json()
    assert sorted(body) == ["orders", "prefs", "profile"]
    # Path parameters and query arguments reach each part's upstream, on the part's own path.
    assert body["profile"]["uri"] == "/users/42?__sleep=0.6"
    assert body["orders"]["uri"] == "/orders?__sleep=0.6&q=a%20b&user=42"
    assert body["prefs"]["uri"].startswith("/prefs/42?")
    for part in body.values():
        # The request id and the client's credentials reach every part.
        assert part["headers"]["x-request-id"] == "req-123"
        assert part["headers"]["authorization"] == "Bearer t0k"
    assert r.headers["X-Request-ID"] == "req-123"
    # Three parts of 0.6 s each: run one after another they take 1.8 s at least.
    assert elapsed < 1.5, f"parts did not run in parallel ({elapsed:.2f}s)"
    assert elapsed >= 0.6


def test_generated_request_id_is_shared(tmp_path, nginx_runner, three) -> None:
    nginx = start(tmp_path, nginx_runner, three)
    r = request("GET", f"{nginx.url}/users/7/summary")
    # The client sent no q: the part's q parameter is left out, not sent empty (found live).
    assert r.json()["orders"]["uri"] == "/orders?__sleep=0.6&user=7"
    # Sent empty, it stays empty.
    assert request("GET", f"{nginx.url}/users/7/summary?q=").json()["orders"]["uri"] == "/orders?__sleep=0.6&q=&user=7"
    ids = {part["headers"]["x-request-id"] for part in r.json().values()}
    assert ids == {r.headers["X-Request-ID"]}
    assert len(r.headers["X-Request-ID"]) == 32


def test_a_semicolon_in_a_part_path_parameter_is_refused(tmp_path, nginx_runner, three) -> None:
    """Found by a hunt: nginx re-escapes a part's path without ";", so /users/me%3Bx/summary
    sent the part /users/me;x, which servlet containers read as /users/me. A parameter that
    only fills a part's query keeps its %3B there."""
    parts = [
        {"name": "profile", "upstream": "users", "path": "/users/{id}"},
        {"name": "orders", "upstream": "orders", "path": "/orders", "query": {"user": "{id}"}},
    ]
    nginx = start(tmp_path, nginx_runner, three, parts=parts)
    for raw in ("me%3Bx", "%3B", "a%3bb"):
        r = request("GET", f"{nginx.url}/users/{raw}/summary")
        assert r.status == 400 and r.json()["error"] == "Bad Request", (raw, r.text)
    body = request("GET", f"{nginx.url}/users/a%20b%2Bc/summary").json()
    assert body["profile"]["uri"] == "/users/a%20b+c"
    assert body["orders"]["uri"] == "/orders?user=a%20b%2Bc"
    only_query = [{"name": "orders", "upstream": "orders", "path": "/orders", "query": {"user": "{id}"}}]
    nginx = start(tmp_path / "q", nginx_runner, three, parts=only_query)
    assert request("GET", f"{nginx.url}/users/me%3Bx/summary").json()["orders"]["uri"] == "/orders?user=me%3Bx"


def test_merge_top_level(tmp_path, nginx_runner, three) -> None:
    parts = [
        {"name": "a", "upstream": "users", "path": "/a/{id}"},
        {"name": "b", "upstream": "orders", "path": "/b"},
    ]
    nginx = start(tmp_path, nginx_runner, three, parts=parts, merge="top_level")
    body = request("GET", f"{nginx.url}/users/9/summary").json()
    # The echo bodies are merged: later parts win on shared keys (uri, headers, ...).
    assert body["uri"] == "/b"
    assert "a" not in body and "b" not in body


def test_failing_part_fails_whole_response(tmp_path, nginx_runner, three) -> None:
    three["orders"].kill()
    nginx = start(tmp_path, nginx_runner, three)
    r = request("GET", f"{nginx.url}/users/1/summary")
    assert r.status == 502
    body = r.json()
    assert body["part"] == "orders"
    assert body["error"] == "Bad Gateway"
    assert body["request_id"] == r.headers["X-Request-ID"]


def test_failing_part_omitted_and_reported(tmp_path, nginx_runner, three) -> None:
    parts = [
        {"name": "profile", "upstream": "users", "path": "/users/{id}"},
        {"name": "slow", "upstream": "orders", "path": "/slow", "query": {"__sleep": "3"}, "timeout": "500ms"},
        {"name": "broken", "upstream": "prefs", "path": "/broken", "query": {"__status": "500"}},
    ]
    nginx = start(tmp_path, nginx_runner, three, parts=parts, on_error="omit")
    began = time.monotonic()
    r = request("GET", f"{nginx.url}/users/5/summary")
    assert time.monotonic() - began < 2.5  # the part's own timeout, not the backend's 3 s
    assert r.status == 200, r.text
    body = r.json()
    assert body["profile"]["uri"] == "/users/5"
    assert "slow" not in body and "broken" not in body
    errors = {e["part"]: e for e in body["_errors"]}
    assert errors["slow"]["status"] == 504
    assert errors["broken"]["status"] == 500


def test_non_composite_operation_still_proxies(tmp_path, nginx_runner, three) -> None:
    nginx = start(tmp_path, nginx_runner, three)
    r = request("GET", f"{nginx.url}/users/3")
    assert r.status == 200
    assert r.json()["headers"]["x-apigen-operation"] == "users.getUser"


def test_composite_operation_added_by_the_policy(tmp_path, nginx_runner, three) -> None:
    """A composite operation the spec does not declare (`add_operations`)."""
    port = free_port()
    parts = [
        {"name": "user", "upstream": "users", "path": "/users/{uid}"},
        {"name": "prefs", "upstream": "prefs", "path": "/p"},
    ]
    p = policy(port, {n: b.address for n, b in three.items()}, parts=parts)
    api = p["apis"][0]
    api["operations"] = {}
    api["add_operations"] = {"dashboard": {"method": "GET", "path": "/dash/{uid}", "use": ["summary"]}}
    nginx = nginx_runner(build(tmp_path, p, {"users.json": SPEC}), port)
    r = request("GET", f"{nginx.url}/dash/u%201")
    assert r.status == 200, r.text
    assert r.json()["user"]["uri"] == "/users/u%201"
    # The part location strips its prefix with a rewrite (not a path in proxy_pass, which gixy
    # reports): a decoded space, "?" or "%" is escaped again, never sent raw or with the prefix.
    r = request("GET", f"{nginx.url}/dash/a%20b%3Fc%25d")
    assert r.status == 200, r.text
    assert r.json()["user"]["uri"] == "/users/a%20b%3Fc%25d"
    # A decoded line feed never gets that far: an encoded control character in the path is
    # ambiguous (docs/security.md), answered 400 before any part is asked.
    r = request("GET", f"{nginx.url}/dash/a%0Ab")
    assert r.status == 400 and "user" not in r.json(), r.text
    assert request("POST", f"{nginx.url}/dash/u1").status == 405
    # Still a spec operation next to it.
    assert request("GET", f"{nginx.url}/users/3/summary").json()["headers"]["x-apigen-operation"] == "users.userSummary"


def test_parts_do_not_pass_spoofed_client_headers(tmp_path, nginx_runner, three) -> None:
    """Found by a hunt: parts are subrequests carrying the client's headers, so a forged
    X-Forwarded-For, X-Real-IP or identity header (an API key's forward_as) reached every part
    while the operation's own upstream got the gateway's values."""
    port = free_port()
    p = policy(port, {n: b.address for n, b in three.items()})
    p["policies"]["keys"] = {"kind": "api_key", "keys_file": "keys.txt", "name": "X-Key", "forward_as": "X-Client-Name"}
    p["apis"][0]["use"] = ["keys"]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "keys.txt").write_text("alice: k-alice-0123456789\n")
    nginx = nginx_runner(build(tmp_path, p, {"users.json": SPEC}), port)
    forged = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6", "X-Client-Name": "admin", "X-Apigen-Client": "admin", "X-Apigen-Operation": "x.y"}
    r = request("GET", f"{nginx.url}/users/1/summary", headers={**forged, "X-Key": "k-alice-0123456789"})
    assert r.status == 200, r.text
    for name, part in r.json().items():
        seen = part["headers"]
        assert (seen["x-forwarded-for"], seen["x-real-ip"]) == ("127.0.0.1", "127.0.0.1"), name
        assert "forwarded" not in seen and "x-client-name" not in seen, name
        assert (seen["x-apigen-client"], seen["x-apigen-operation"]) == ("alice", "users.userSummary"), name
    plain = request("GET", f"{nginx.url}/users/1", headers={**forged, "X-Key": "k-alice-0123456789"}).json()["headers"]
    assert (plain["x-forwarded-for"], plain["x-client-name"]) == ("127.0.0.1", "alice")


def test_composite_errors_use_the_gateway_template(tmp_path, nginx_runner, three) -> None:
    """Found by a hunt: the composite's own 400/500/502 answers ignored the errors policy's
    template that every other gateway error follows."""
    three["orders"].kill()
    port = free_port()
    p = policy(port, {n: b.address for n, b in three.items()})
    p["policies"]["json-errors"] = {"kind": "errors", "template": '{"error": {"code": {status}, "text": {message}}, "trace": {request_id}}'}
    p["gateway"]["use"] = ["json-errors"]
    nginx = nginx_runner(build(tmp_path, p, {"users.json": SPEC}), port)
    r = request("GET", f"{nginx.url}/users/1/summary")
    assert r.status == 502
    body = r.json()
    assert body["error"] == {"code": 502, "text": "Bad Gateway"} and body["trace"] == r.headers["X-Request-ID"]
    assert body["part"] == "orders" and body["detail"]
    bad = request("GET", f"{nginx.url}/users/%ff/summary").json()  # not UTF-8 once decoded: 400
    assert bad["error"] == {"code": 400, "text": "Bad Request"}


def test_operations_set_the_client_header_parts_trust(tmp_path, nginx_runner, three) -> None:
    """Found by a review: parts carry the identity as X-Apigen-Client, which a client could send
    itself to the same upstream through any ordinary operation."""
    port = free_port()
    p = policy(port, {n: b.address for n, b in three.items()})
    p["policies"]["keys"] = {"kind": "api_key", "keys_file": "keys.txt", "name": "X-Key"}
    p["apis"][0]["use"] = ["keys"]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "keys.txt").write_text("alice: k-alice-0123456789\n")
    nginx = nginx_runner(build(tmp_path, p, {"users.json": SPEC}), port)
    r = request("GET", f"{nginx.url}/users/1", headers={"X-Key": "k-alice-0123456789", "X-Apigen-Client": "bob-admin"})
    assert r.json()["headers"]["x-apigen-client"] == "alice"


def test_parts_do_not_receive_hidden_credentials(tmp_path, nginx_runner, three) -> None:
    """hide_credentials kept the key from the operation's upstream, but every part's upstream
    received it (parts are subrequests carrying the client's headers; found by a hunt)."""
    port = free_port()
    p = policy(port, {n: b.address for n, b in three.items()})
    p["policies"]["keys"] = {"kind": "api_key", "keys_file": "keys.txt", "name": "X-Key", "hide_credentials": True}
    p["apis"][0]["use"] = ["keys"]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "keys.txt").write_text("alice: k-alice-0123456789\n")
    nginx = nginx_runner(build(tmp_path, p, {"users.json": SPEC}), port)
    r = request("GET", f"{nginx.url}/users/1/summary", headers={"X-Key": "k-alice-0123456789"})
    assert r.status == 200, r.text
    for name, part in r.json().items():
        assert "x-key" not in part["headers"] and part["headers"]["x-apigen-client"] == "alice", name
    assert "x-key" not in request("GET", f"{nginx.url}/users/1", headers={"X-Key": "k-alice-0123456789"}).json()["headers"]
    assert request("GET", f"{nginx.url}/users/1/summary").status == 401


def test_parts_use_the_upstreams_retries(tmp_path, nginx_runner, three) -> None:
    """Found by a hunt: part locations had the upstream's read and connect timeouts but not its
    retries (nor its send timeout), so a part failed where an operation would have tried the
    next server."""
    import http.server
    import threading

    class Unavailable(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = free_port()
        spec = policy(port, {n: b.address for n, b in three.items()})
        spec["upstreams"]["orders"] = {
            # The failing server first: round robin starts there for the first request.
            "servers": [{"address": f"127.0.0.1:{server.server_address[1]}"}, {"address": three["orders"].address}],
            "timeouts": {"read": "3s", "send": "4s"},
            "retries": {"on": ["error", "timeout", "http_503"], "tries": 2},
        }
        bundle = build(tmp_path, spec, {"users.json": SPEC})
        conf = next(p.read_text() for p in bundle.rglob("*.conf") if "Aggregate part" in p.read_text())
        part = conf[conf.index("/_apigen/part/summary/orders/") :]
        part = part[: part.index("\n    }")]
        assert "proxy_next_upstream error timeout http_503;" in part and "proxy_send_timeout 4s;" in part
        nginx = nginx_runner(bundle, port)
        for _ in range(4):  # both servers come first in turn
            r = request("GET", f"{nginx.url}/users/1/summary")
            assert r.status == 200, r.text
    finally:
        server.shutdown()
        server.server_close()


def test_a_part_cut_short_is_a_failed_part(tmp_path, nginx_runner, three) -> None:
    """Found by a hunt: an upstream that stopped in the middle of its body until the read timeout
    gave the part no body with its 200, which read as JSON null (`"part": null`, 200 even with
    on_error: fail). A body shorter than its Content-Length, or an empty chunked one of which
    more than the last chunk was read, is a failed part now; complete bodies are unchanged."""
    import socketserver
    import threading

    answers = {
        "/cl-cut": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":",
        "/chunk-cut": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n",
        "/chunk-ok": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
        "/chunk-empty": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "/empty": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "/utf8": b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"a\":\"\xc3\xa9\xe2\x82\xac\"}",
    }

    class Raw(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ")[1].decode().split("?")[0]
            self.request.sendall(answers[path])
            if path.endswith("-cut"):
                time.sleep(2)  # past the part's read timeout, the body unfinished

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Raw)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backends = {n: b.address for n, b in three.items()}
        backends["raw"] = f"127.0.0.1:{server.server_address[1]}"
        parts = [{"name": path.strip("/"), "upstream": "raw", "path": path} for path in answers]
        for on_error in ("omit", "fail"):
            port = free_port()
            spec = policy(port, backends, parts=parts, on_error=on_error)
            spec["upstreams"]["raw"]["timeouts"] = {"read": "1s"}
            nginx = nginx_runner(build(tmp_path / on_error, spec, {"users.json": SPEC}), port)
            r = request("GET", f"{nginx.url}/users/1/summary")
            if on_error == "fail":
                assert r.status == 502 and r.json()["detail"] == "response cut short", r.text
                continue
            assert r.status == 200, r.text
            body = r.json()
            assert {e["part"]: (e["status"], e["error"]) for e in body.pop("_errors")} == {
                "cl-cut": (200, "response cut short"),
                "chunk-cut": (200, "response cut short"),
            }
            assert body == {"chunk-ok": {"a": 1}, "chunk-empty": None, "empty": None, "utf8": {"a": "é€"}}
    finally:
        server.shutdown()
        server.server_close()
