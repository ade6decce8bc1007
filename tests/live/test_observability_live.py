"""JSON access log (every line parses, even with hostile header values; no credentials) and
stub_status on its own listener."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.compose import build, openapi
from tests.support.http import request, send_raw
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

SPEC = openapi({"/things": {"get": "listThings"}, "/things/{id}": {"get": "getThing"}})


def test_json_access_log_and_stub_status(tmp_path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("things")
    port, metrics_port = free_port(), free_port()
    policy = {
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "access_log": {"fields": {"tenant": "X-Tenant"}},
            "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        },
        "upstreams": {"things": {"servers": [{"address": backend.address}]}},
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things"}],
    }
    nginx = nginx_runner(build(tmp_path, policy, {"things.json": SPEC}), port)

    assert request("GET", f"{nginx.url}/things/7", headers={"X-Request-ID": "rid-1"}).status == 200
    hostile = (
        b"GET /things?api_key=SECRETKEY HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b'User-Agent: a"b\\c\x01d\xff}{"injected":1,\r\n'
        b'X-Tenant: "},{"x\t' + "ü".encode() + b"\r\n"
        b"Authorization: Bearer SECRETTOKEN\r\n\r\n"
    )
    assert b" 200 " in send_raw(port, hostile).split(b"\r\n", 1)[0]
    assert request("GET", f"{nginx.url}/nowhere").status == 404

    stub = request("GET", f"http://127.0.0.1:{metrics_port}/stub_status")
    assert stub.status == 200 and "Active connections" in stub.text
    assert request("GET", f"{nginx.url}/stub_status").status == 404  # not on the API listener

    path = nginx.prefix / "logs" / "access.json.log"
    # nginx writes the line after it sent the response: wait for the last one to land.
    deadline = time.monotonic() + 5
    while path.read_bytes().count(b"\n") < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = path.read_bytes().decode("utf-8").splitlines()  # strict: a non-UTF-8 byte fails
    assert len(lines) == 4, lines  # stub_status requests are not logged
    # By path, not by line: each worker writes its own lines, so a request answered later can be
    # logged first (CI saw /stub_status's 404 before /nowhere's).
    by_uri = {entry["uri"]: entry for entry in map(json.loads, lines)}
    assert sorted(by_uri) == ["/nowhere", "/stub_status", "/things", "/things/7"], lines
    first, second, third, fourth = (by_uri[u] for u in ("/things/7", "/things", "/nowhere", "/stub_status"))
    assert first["request_id"] == "rid-1"
    # Absent headers are logged empty, not as "(not UTF-8)" (an empty value skips map regexes).
    assert (first["user_agent"], first["tenant"]) == ("", "")
    assert (first["api"], first["operation"], first["status"]) == ("things", "getThing", 200)
    assert first["method"] == "GET" and first["uri"] == "/things/7"
    assert first["upstream_addr"] == backend.address and first["upstream_status"] == "200"
    assert isinstance(first["request_time"], (int, float)) and isinstance(first["bytes"], int)
    for key in ("upstream_connect_time", "upstream_header_time", "upstream_response_time", "time", "client"):
        assert first[key]
    assert first["auth_client"] is None and first["variant"] is None  # no kind in use provides them
    assert "rate_limit" in first
    # Hostile values stay inside their strings; credentials and the query are never logged.
    assert second["user_agent"] == "(not UTF-8)"  # it carried a raw 0xff byte
    assert second["tenant"] == '"},{"x\tü'  # valid UTF-8 is kept, escaped
    assert "injected" not in second
    assert second["uri"] == "/things"
    raw = path.read_text()
    assert "SECRETTOKEN" not in raw and "SECRETKEY" not in raw
    assert (third["status"], third["api"], third["operation"]) == (404, "", "")
    assert fourth["uri"] == "/stub_status" and fourth["status"] == 404
    # api/operation come from maps on the route: a 404 that never set one reads them without warnings.
    assert "uninitialized" not in nginx.error_log()


def test_authenticated_requests_keep_their_operation(tmp_path, echo_backend, nginx_runner) -> None:
    """njs authentication runs in a subrequest (auth_request), which shares the request's
    variables: a server-level `set $apigen_route ""` ran again there and emptied the route, so the
    operation header read ".", the access log had no operation (found by a hunt)."""
    backend = echo_backend("things")
    port = free_port()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "keys.txt").write_text("alice: k-alice-0123456789\n")
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "operation_header": "X-Op", "access_log": {}},
        "upstreams": {"things": {"servers": [{"address": backend.address}]}},
        "policies": {"keys": {"kind": "api_key", "keys_file": "keys.txt", "in": "header", "name": "X-Key", "forward_as": "X-Client"}},
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things", "use": ["keys"]}],
    }
    nginx = nginx_runner(build(tmp_path, policy, {"things.json": SPEC}), port)
    r = request("GET", f"{nginx.url}/things/7", headers={"X-Key": "k-alice-0123456789"})
    assert r.status == 200, r.text
    seen = r.json()["headers"]
    assert (seen["x-op"], seen["x-client"]) == ("things.getThing", "alice")
    assert request("GET", f"{nginx.url}/things/7").status == 401
    path = nginx.prefix / "logs" / "access.json.log"
    deadline = time.monotonic() + 5
    while path.read_bytes().count(b"\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    # In either order: the 200 is logged once its upstream exchange ends, which on a loaded
    # machine can come after the 401 (answered without the upstream) was logged.
    assert sorted((e["api"], e["operation"], e["status"]) for e in entries) == [("things", "getThing", 200), ("things", "getThing", 401)]
    assert "uninitialized" not in nginx.error_log()


def test_errors_of_the_unknown_host_server_log_no_warnings(tmp_path, echo_backend, nginx_runner) -> None:
    """Found by a review: the default (444) server's error answers read the answer maps on the
    route, which it never sets; each 414 logged an "uninitialized variable" warning."""
    backend = echo_backend("things")
    port = free_port()
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "server_name": "api.example.com"},
        "upstreams": {"things": {"servers": [{"address": backend.address}]}},
        "policies": {"h": {"kind": "headers", "response": {"set": {"X-Frame-Options": "DENY"}}}},
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things", "use": ["h"]}],
    }
    nginx = nginx_runner(build(tmp_path, policy, {"things.json": SPEC}), port)
    for host in (b"other.example", b"api.example.com"):
        answer = send_raw(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 414 "), answer[:40]
    assert request("GET", f"{nginx.url}/things/1").headers["X-Frame-Options"] == "DENY"
    assert "uninitialized" not in nginx.error_log()


def test_identity_headers_are_cleared_on_operations_without_auth(tmp_path, echo_backend, nginx_runner) -> None:
    """Found by a hunt: a client-sent X-Client-Name (what an API-key policy forwards as the
    verified client) reached the upstream through the operations without authentication."""
    backend = echo_backend("things")
    port = free_port()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "keys.txt").write_text("alice: k-alice-0123456789\n")
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}"},
        "upstreams": {"things": {"servers": [{"address": backend.address}]}},
        "policies": {"keys": {"kind": "api_key", "keys_file": "keys.txt", "name": "X-Key", "forward_as": "X-Client"}},
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things", "operations": {"getThing": {"use": ["keys"]}}}],
    }
    nginx = nginx_runner(build(tmp_path, policy, {"things.json": SPEC}), port)
    public = request("GET", f"{nginx.url}/things", headers={"X-Client": "admin"}).json()["headers"]
    assert "x-client" not in public
    private = request("GET", f"{nginx.url}/things/1", headers={"X-Client": "admin", "X-Key": "k-alice-0123456789"}).json()
    assert private["headers"]["x-client"] == "alice"


def test_the_default_access_log_is_json_for_paths_that_are_not_utf8(tmp_path, echo_backend, nginx_runner) -> None:
    """`log_format apigen` (no gateway.access_log, and the unknown-host server) wrote raw path
    bytes: escape=json copies bytes >= 0x80, so the line was not valid JSON (found by a hunt)."""
    backend = echo_backend("things")
    port = free_port()
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "server_name": "api.example.com"},
        "upstreams": {"things": {"servers": [{"address": backend.address}]}},
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things"}],
    }
    nginx = nginx_runner(build(tmp_path, policy, {"things.json": SPEC}), port)
    for host, path in ((b"api.example.com", b"/things/\xff\xfe"), (b"api.example.com", b"/things/caf\xc3\xa9"), (b"evil", b"/a\xff")):
        try:
            send_raw(port, b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        except ConnectionResetError:
            assert host == b"evil"  # 444: the unknown-host server closes the connection
    deadline = time.monotonic() + 3
    while len(nginx.access_log_lines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    raw = (nginx.prefix / "logs/access.log").read_bytes()
    paths = [json.loads(line)["path"] for line in raw.decode("utf-8").splitlines()]
    assert paths == ["(not UTF-8)", "/things/café", "(not UTF-8)"]


def test_unknown_hosts_and_early_errors_go_to_the_gateway_log_and_off_means_off(tmp_path, echo_backend, nginx_runner) -> None:
    """Found by a hunt: the unknown-host server (444, and errors found before a server is
    chosen) logged to nginx.conf's default log, never the configured one; `path: off` (documented)
    built `access_log "off" apigen_json;`, which nginx refuses."""
    backend = echo_backend("things")
    port = free_port()
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "server_name": "api.example.com", "access_log": {"path": "logs/gw.log"}},
        "upstreams": {"things": {"servers": [{"address": backend.address}]}},
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things"}],
    }
    nginx = nginx_runner(build(tmp_path / "a", policy, {"things.json": SPEC}), port)
    try:  # 444: closed without an answer (a reset when nginx closes with unread data)
        assert send_raw(port, b"GET /things HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n") == b""
    except ConnectionResetError:
        pass
    assert send_raw(port, b"GET /%zz HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    path = nginx.prefix / "logs" / "gw.log"
    deadline = time.monotonic() + 5
    while (not path.exists() or path.read_bytes().count(b"\n") < 2) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [json.loads(line)["status"] for line in path.read_text().splitlines()] == [444, 400]
    assert "uninitialized" not in nginx.error_log()

    port = free_port()
    policy["gateway"].update(listen=f"127.0.0.1:{port}", access_log={"path": "off"})
    nginx = nginx_runner(build(tmp_path / "b", policy, {"things.json": SPEC}), port)
    assert request("GET", f"{nginx.url}/things/1", headers={"Host": "api.example.com"}).status == 200
    conf = (nginx.prefix / "api_gateway.conf").read_text()
    assert "access_log off;" in conf and "apigen_json" not in conf
