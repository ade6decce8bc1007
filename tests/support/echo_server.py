"""Echo backend run as its own process: `python -I tests/support/echo_server.py --port N --name NAME`.

Answers every method with 200 and a JSON description of the request. Query arguments steer it:
`__status=NNN` sets the status, `__sleep=SECONDS` delays the answer, `__header=Name:Value` (may
repeat) adds a response header. Standard library only, so it runs under any interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# No body allowed on these statuses (RFC 9110), so no Content-Length either.
_NO_BODY = {204, 304}


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive friendly; every answer carries Content-Length
    server_version = "echo"
    sys_version = ""
    backend_name = "echo"

    def __getattr__(self, name: str) -> Callable[[], None]:
        # BaseHTTPRequestHandler dispatches to do_<METHOD>; answer every method, known or not.
        if name.startswith("do_"):
            return self._echo
        raise AttributeError(name)

    def log_message(self, *args: Any) -> None:
        pass  # quiet: tests read nginx's logs, not ours

    def _raw_target(self) -> str:
        # self.path may be rewritten by http.server (it collapses a leading "//"); the request
        # line is what arrived on the wire.
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else self.path

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _echo(self) -> None:
        target = self._raw_target()
        body = self._read_body()
        status = 200
        extra: list[tuple[str, str]] = []
        for key, value in parse_qsl(urlsplit(target).query, keep_blank_values=True):
            if key == "__status":
                status = int(value)
            elif key == "__sleep":
                time.sleep(float(value))
            elif key == "__header" and ":" in value:
                name, _, val = value.partition(":")
                extra.append((name.strip(), val.strip()))
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        payload = json.dumps(
            {
                "backend": self.backend_name,
                "method": self.command,
                "uri": target,
                "headers": headers,
                "body": body.decode("utf-8", errors="replace"),
            }
        ).encode()
        self.send_response(status)
        self.send_header("X-Backend", self.backend_name)
        for name, value in extra:
            self.send_header(name, value)
        if status in _NO_BODY or status < 200:
            self.end_headers()
            return
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # load tests (wrk) open many connections at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients (nginx timeouts, killed tests) hang up mid-answer; that is not an error here


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="echo")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    handler = type("NamedEchoHandler", (EchoHandler,), {"backend_name": args.name})
    with EchoServer((args.host, args.port), handler) as server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
