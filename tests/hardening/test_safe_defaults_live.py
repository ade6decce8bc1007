"""The generated gateway's safe defaults, checked on a real nginx with real requests: unknown hosts
refused (plain HTTP: connection closed; TLS: handshake refused), client-sent X-Forwarded-For
replaced unless the peer is a trusted proxy, no secrets in the access log, bounded header size,
no version in the Server header."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from tests.support.http import request, send_raw
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.workspace import base_inputs, tls_pair, write_workspace

pytestmark = [pytest.mark.live, requires_nginx]
HOST = "api.example.com"


def _gateway(tmp_path: Path, echo_backend, nginx_runner, **gateway: Any):
    backend = echo_backend("main")
    port, tls_port = free_port(), free_port()
    policy, spec = base_inputs()
    policy["gateway"].update({"listen": f"127.0.0.1:{port}", **gateway})
    policy["gateway"]["tls"]["listen"] = f"127.0.0.1:{tls_port}"
    policy["upstreams"]["main"]["servers"][0]["address"] = backend.address
    path = write_workspace(tmp_path / "ws", policy, spec)
    result = compile_policy(path)
    assert result.bundle is not None
    write_atomic(result.bundle, tmp_path / "bundle")
    return nginx_runner(tmp_path / "bundle", port), port, tls_port


def test_client_headers_are_not_trusted_by_default(tmp_path, echo_backend, nginx_runner) -> None:
    _gw, port, _ = _gateway(tmp_path, echo_backend, nginx_runner)
    r = request(
        "GET",
        f"http://127.0.0.1:{port}/v1/items",
        headers={"Host": HOST, "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6"},
    )
    assert r.status == 200, r.text
    seen = r.json()["headers"]
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-real-ip"] == "127.0.0.1"
    assert "forwarded" not in seen
    assert seen["x-apigen-operation"] == "main.listItems"
    assert r.headers["Server"] == "nginx"  # server_tokens off: no version


def test_trusted_proxy_may_tell_the_client_address(tmp_path, echo_backend, nginx_runner) -> None:
    gw, port, _ = _gateway(tmp_path, echo_backend, nginx_runner, trusted_proxies=["127.0.0.1/32"])
    r = request("GET", f"http://127.0.0.1:{port}/v1/items", headers={"Host": HOST, "X-Forwarded-For": "6.6.6.6"})
    assert r.status == 200
    assert r.json()["headers"]["x-real-ip"] == "6.6.6.6"
    assert json.loads(gw.wait_for_log_line('"/v1/items"'))["remote_addr"] == "6.6.6.6"


def _answer(port: int, data: bytes) -> bytes:
    """What the gateway sends back; a reset (444 closes with the request unread) is no answer."""
    try:
        return send_raw(port, data)
    except ConnectionResetError:
        return b""


def test_unknown_host_gets_no_answer(tmp_path, echo_backend, nginx_runner) -> None:
    _gw, port, _ = _gateway(tmp_path, echo_backend, nginx_runner)
    assert _answer(port, b"GET /v1/items HTTP/1.1\r\nHost: evil.example\r\n\r\n") == b""
    assert _answer(port, b"GET /v1/items HTTP/1.0\r\n\r\n") == b""  # no Host at all
    ok = send_raw(port, b"GET /v1/items HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 ")


def _handshake(port: int, server_name: str) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            return tls.version() or ""


def test_tls_handshake_for_unknown_name_is_refused(tmp_path, echo_backend, nginx_runner) -> None:
    tls_pair()
    _gw, _port, tls_port = _gateway(tmp_path, echo_backend, nginx_runner)
    assert _handshake(tls_port, HOST) in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(ssl.SSLError):
        _handshake(tls_port, "evil.example")


def test_secrets_never_reach_the_access_log(tmp_path, echo_backend, nginx_runner) -> None:
    gw, port, _ = _gateway(tmp_path, echo_backend, nginx_runner)
    secret_header, secret_arg = "Bearer s3cr3t-token-value", "k3y-in-query"
    r = request(
        "GET",
        f"http://127.0.0.1:{port}/v1/items?api_key={secret_arg}",
        headers={"Host": HOST, "Authorization": secret_header, "X-Api-Key": "k3y-in-header", "Cookie": "s=c00kie"},
    )
    assert r.status == 200
    line = gw.wait_for_log_line('"/v1/items"')
    entry = json.loads(line)
    assert entry["status"] == 200 and entry["method"] == "GET" and entry["path"] == "/v1/items"
    log = "\n".join(gw.access_log_lines())
    for secret in ("s3cr3t", "k3y-in-query", "k3y-in-header", "c00kie"):
        assert secret not in log


def test_oversized_headers_are_refused(tmp_path, echo_backend, nginx_runner) -> None:
    _gw, port, _ = _gateway(tmp_path, echo_backend, nginx_runner)
    r = request("GET", f"http://127.0.0.1:{port}/v1/items", headers={"Host": HOST, "X-Big": "a" * 9000})
    assert r.status == 400
    assert r.json()["status"] == 400


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /v1/items HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n", 501),
        (b"GET /v1/items HTTP/2.0\r\nHost: api.example.com\r\nConnection: close\r\n\r\n", 505),
    ],
    ids=["unknown-transfer-encoding", "http-2.0-request-line"],
)
def test_nginx_501_and_505_are_json(tmp_path, echo_backend, nginx_runner, raw: bytes, status: int) -> None:
    """They were nginx's HTML pages without X-Request-ID (found by a hunt)."""
    _gw, port, _ = _gateway(tmp_path, echo_backend, nginx_runner)
    head, _, body = send_raw(port, raw).partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    assert b"Content-Type: application/json" in head and b"X-Request-ID: " in head
    assert json.loads(body)["status"] == status
