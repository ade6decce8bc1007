"""WebSocket upgrade through the gateway for operations marked `kind: websocket`."""

from __future__ import annotations

import pytest

from tests.support.compose import build, openapi
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.websocket import WebSocketEchoServer, handshake, read_frame, write_frame

pytestmark = [pytest.mark.live, requires_nginx]

SPEC = openapi({"/ws/chat": {"get": "chat"}, "/plain": {"get": "plain"}})


def test_websocket_upgrade_and_echo(tmp_path, nginx_runner) -> None:
    with WebSocketEchoServer() as ws:
        port = free_port()
        policy = {
            "gateway": {"listen": f"127.0.0.1:{port}"},
            "upstreams": {"chat": {"servers": [{"address": ws.address}], "keepalive": 8}},
            "policies": {"ws": {"kind": "websocket", "idle_timeout": "10m"}},
            "apis": [
                {"name": "chat", "spec": "chat.json", "upstream": "chat", "operations": {"chat": {"use": ["ws"]}}}
            ],
        }
        bundle = build(tmp_path, policy, {"chat.json": SPEC})
        conf = (bundle / "api_conf.d" / "chat.conf").read_text()
        assert "proxy_read_timeout 10m;" in conf
        nginx_runner(bundle, port)

        sock, head = handshake(port, "/ws/chat", {"X-Request-ID": "ws-1"})
        with sock:
            assert head.startswith(b"HTTP/1.1 101 "), head
            assert b"X-Seen-Request-ID: ws-1" in head
            for text in (b"hello", b"x" * 300):
                write_frame(sock, 0x1, text, masked=True)
                assert read_frame(sock) == (0x1, b"echo:" + text)
            write_frame(sock, 0x8, b"\x03\xe8", masked=True)
            assert read_frame(sock)[0] == 0x8

        # The keyword is case-insensitive (RFC 6455, 4.2.1).
        sock, head = handshake(port, "/ws/chat", upgrade="WebSocket")
        with sock:
            assert head.startswith(b"HTTP/1.1 101 "), head
        # Only a WebSocket upgrade is passed on: `Upgrade: h2c` (or any other protocol) would
        # tunnel past the gateway's HTTP/1.1 view of the connection (found by a hunt).
        for other in ("h2c", "websocket, h2c", "TLS/1.2"):
            sock, head = handshake(port, "/ws/chat", upgrade=other)
            with sock:
                assert head.startswith(b"HTTP/1.1 426 "), head
                assert b"X-Seen-Upgrade: \r\n" in head, head

        # An operation not marked websocket does not upgrade: nginx drops Upgrade/Connection.
        sock, head = handshake(port, "/plain")
        with sock:
            assert head.startswith(b"HTTP/1.1 426 "), head
