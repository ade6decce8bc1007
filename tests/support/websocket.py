"""A tiny WebSocket echo server and client on the standard library (RFC 6455 subset: unfragmented
text frames up to 64 KiB, close). Enough to prove an Upgrade goes through the gateway."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import socketserver
import struct
import threading
from types import TracebackType

from .ports import free_port

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    b1, b2 = _read_exact(sock, 2)
    length = b2 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _read_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _read_exact(sock, 8))
    mask = _read_exact(sock, 4) if b2 & 0x80 else b""
    payload = _read_exact(sock, length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return b1 & 0x0F, payload


def write_frame(sock: socket.socket, opcode: int, payload: bytes, *, masked: bool) -> None:
    head = bytes([0x80 | opcode])
    n = len(payload)
    size = (
        bytes([n | (0x80 if masked else 0)])
        if n < 126
        else bytes([126 | (0x80 if masked else 0)]) + struct.pack("!H", n)
    )
    if masked:
        mask = os.urandom(4)
        payload = mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(head + size + payload)


def _read_head(sock: socket.socket) -> bytes:
    """An HTTP head, up to and including the blank line; less if the peer closes first."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        head = _read_head(sock)
        if b"\r\n\r\n" not in head:
            return
        lines = head.split(b"\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:] if line)}
        if headers.get(b"upgrade", b"").lower() != b"websocket":
            seen = b"X-Seen-Upgrade: " + headers.get(b"upgrade", b"") + b"\r\n"
            sock.sendall(b"HTTP/1.1 426 Upgrade Required\r\n" + seen + b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return
        request_id = headers.get(b"x-request-id", b"")
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(headers[b"sec-websocket-key"]) + b"\r\n"
            b"X-Seen-Request-ID: " + request_id + b"\r\n\r\n"
        )
        while True:
            try:
                opcode, payload = read_frame(sock)
            except ConnectionError:
                return
            if opcode == 0x8:
                write_frame(sock, 0x8, payload, masked=False)
                return
            write_frame(sock, opcode, b"echo:" + payload, masked=False)


class WebSocketEchoServer:
    def __init__(self) -> None:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.port = free_port()
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> WebSocketEchoServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def handshake(
    port: int, path: str, headers: dict[str, str] | None = None, upgrade: str = "websocket"
) -> tuple[socket.socket, bytes]:
    """Open a WebSocket on 127.0.0.1:port; returns the socket and the raw response head."""
    key = base64.b64encode(os.urandom(16))
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
    sock.sendall(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: gw\r\nUpgrade: " + upgrade.encode() + b"\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n" + extra + b"\r\n"
    )
    head = _read_head(sock)
    if b" 101 " in head.split(b"\r\n", 1)[0] and accept_key(key) not in head:
        raise AssertionError("bad Sec-WebSocket-Accept")
    return sock, head
