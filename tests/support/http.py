"""A small HTTP client for live tests, on http.client.

Not urllib: it follows redirects, raises on 4xx/5xx and normalises paths. Here the request
target is sent exactly as given (`/v1/pets/../x`, `/a%2Fb`) and every status is returned.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Response:
    status: int
    headers: Message  # case-insensitive get(); get_all() for repeated headers
    body: bytes
    reason: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


DEFAULT_HOST = "api.example.com"


def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    timeout: float = 5,
) -> Response:
    """One request on a fresh connection; `url` is `http://host:port` + raw target."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"need an http://host:port/... URL, got {url!r}")
    # Everything after the authority, byte for byte (urlsplit would drop a "?" with no query).
    target = url[len(f"{parts.scheme}://{parts.netloc}") :] or "/"
    target = target.split("#", 1)[0]
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        headers = dict(headers or {})
        if not any(k.lower() == "host" for k in headers):
            # The gateway rejects host names it does not serve (444); the examples and the test
            # policies serve api.example.com (or any name, `_`). Tests of other names set Host.
            headers["Host"] = DEFAULT_HOST
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.headers, data, resp.reason)
    finally:
        conn.close()


def send_raw(port: int, data: bytes, timeout: float = 5, host: str = "127.0.0.1") -> bytes:
    """Write raw bytes (malformed or smuggling requests) and return all bytes until close or timeout."""
    chunks = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def raw_get(port: int, path: str, headers: list[tuple[str, str]]) -> tuple[int, dict]:
    """GET with headers exactly as listed (repeats included: http.client would fold or reorder
    them); (status, the echo upstream's view of the request headers, or {} when not 200)."""
    lines = [f"GET {path} HTTP/1.1", "Host: api.example.com", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    answer = send_raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, (json.loads(body)["headers"] if status == 200 else {})


def https_get(port: int, path: str, ca: Any, client_cert: Any = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET over TLS to 127.0.0.1, trusting the trustme ``ca``, presenting ``client_cert`` (a
    trustme leaf) when given; (status, body)."""
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if client_cert is not None:
        client_cert.configure_cert(ctx)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
