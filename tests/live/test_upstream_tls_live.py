"""TLS from the gateway to a backend: certificate verification against a trusted CA, the SNI
name, and a client certificate (mTLS) the backend requires. Also HTTP/2 to clients over TLS."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support.compose import build, openapi
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

SPEC = openapi({"/orders": {"get": "listOrders"}})


class _Echo(BaseHTTPRequestHandler):
    """Answers what it saw: the client certificate's DNS names, the SNI name, the path, and its
    server's label where it has one (which of several backends answered)."""

    def do_GET(self) -> None:
        cert = self.connection.getpeercert()  # type: ignore[attr-defined]
        names = [value for kind, value in (cert or {}).get("subjectAltName", ()) if kind == "DNS"]
        seen = {"client": names, "sni": self.server.sni, "path": self.path}  # type: ignore[attr-defined]
        if self.server.label:  # type: ignore[attr-defined]
            seen["backend"] = self.server.label  # type: ignore[attr-defined]
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _https_server(ca: trustme.CA, cert_name: str, label: str = "", client_certificate: bool = False) -> ThreadingHTTPServer:
    """A started HTTPS echo server with a certificate for ``cert_name`` from ``ca``, remembering
    the SNI name it was sent; with ``client_certificate`` it requires one from ``ca``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(cert_name).configure_cert(ctx)
    if client_certificate:
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.label, server.sni = label, None  # type: ignore[attr-defined]

    def remember_sni(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        server.sni = name  # type: ignore[attr-defined]

    ctx.sni_callback = remember_sni
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_backend(ca: trustme.CA) -> Iterator[int]:
    """An HTTPS server for `orders.internal` that requires a client certificate from `ca`."""
    server = _https_server(ca, "orders.internal", client_certificate=True)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def write_pki(ca: trustme.CA, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    client = ca.issue_cert("gw.test")
    client.cert_chain_pems[0].write_to_path(str(root / "client.pem"))
    client.private_key_pem.write_to_path(str(root / "client.key"))
    server = ca.issue_cert("api.test")
    server.cert_chain_pems[0].write_to_path(str(root / "api.pem"))
    server.private_key_pem.write_to_path(str(root / "api.key"))


def policy(port: int, tls_port: int, backend: int, server_name: str) -> dict[str, Any]:
    return {
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "server_name": "api.test",
            "tls": {"listen": f"127.0.0.1:{tls_port}", "certificate": "api.pem", "key": "api.key"},
            "http2": {},
        },
        "upstreams": {
            "orders": {
                "servers": [{"address": f"127.0.0.1:{backend}"}],
                "protocol": "https",
                "tls": {
                    "trusted_ca": "ca.pem",
                    "server_name": server_name,
                    "client_certificate": "client.pem",
                    "client_key": "client.key",
                },
            }
        },
        "apis": [{"name": "orders", "spec": "orders.json", "upstream": "orders"}],
    }


def test_mtls_to_backend_and_http2_to_client(tmp_path, ca, tls_backend, nginx_runner) -> None:
    write_pki(ca, tmp_path / "in")
    port, tls_port = free_port(), free_port()
    nginx = nginx_runner(
        build(tmp_path, policy(port, tls_port, tls_backend, "orders.internal"), {"orders.json": SPEC}), port
    )
    r = request("GET", f"{nginx.url}/orders?x=1", headers={"Host": "api.test"})
    assert r.status == 200, r.text
    # The backend saw the gateway's client certificate and the SNI name from the policy.
    assert r.json() == {"client": ["gw.test"], "sni": "orders.internal", "path": "/orders?x=1"}

    # HTTP/2 to a client over TLS (ALPN), checked with curl.
    out = subprocess.run(
        ["curl", "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
         "--cacert", str(tmp_path / "in" / "ca.pem"), "--resolve", f"api.test:{tls_port}:127.0.0.1",
         f"https://api.test:{tls_port}/orders"],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert out.stdout == "2 200", out.stderr


def test_backend_name_mismatch_is_refused(tmp_path, ca, tls_backend, nginx_runner) -> None:
    write_pki(ca, tmp_path / "in")
    port, tls_port = free_port(), free_port()
    nginx = nginx_runner(
        build(tmp_path, policy(port, tls_port, tls_backend, "wrong.internal"), {"orders.json": SPEC}), port
    )
    r = request("GET", f"{nginx.url}/orders", headers={"Host": "api.test"})
    assert r.status == 502
    assert "upstream SSL certificate does not match" in nginx.error_log()


def test_split_between_https_upstreams(tmp_path, ca, nginx_runner) -> None:
    """Found by a hunt: the split check compared the variants' `tls` blocks with their positions
    in the policy file, so two identical blocks differed and no split between https upstreams
    compiled. TLS is now compared as sent, the default server name (the first server's host)
    included: variants verified under different names are still refused."""
    blue, green = _https_server(ca, "orders.internal", "blue"), _https_server(ca, "orders.internal", "green")
    try:
        (tmp_path / "in").mkdir()
        ca.cert_pem.write_to_path(str(tmp_path / "in" / "ca.pem"))
        port = free_port()
        tls = {"trusted_ca": "ca.pem", "server_name": "orders.internal"}
        pol = {
            "gateway": {"listen": f"127.0.0.1:{port}"},
            "upstreams": {
                name: {"servers": [{"address": f"127.0.0.1:{srv.server_address[1]}"}], "protocol": "https", "tls": tls}
                for name, srv in (("blue", blue), ("green", green))
            },
            "policies": {"bg": {"kind": "split", "weights": {"blue": 50, "green": 50}}},
            "apis": [{"name": "orders", "spec": "orders.json", "upstream": "blue", "use": ["bg"]}],
        }
        nginx = nginx_runner(build(tmp_path, pol, {"orders.json": SPEC}), port)
        seen = [request("GET", f"{nginx.url}/orders") for _ in range(30)]
        assert {r.status for r in seen} == {200}
        assert {(r.json()["backend"], r.json()["sni"]) for r in seen} == {
            ("blue", "orders.internal"), ("green", "orders.internal")
        }

        # Without server_name each variant is verified against its first server's host:
        # `localhost` for blue would be sent to green as well, so that is refused.
        from apigen.diagnostics import CompileError

        pol["upstreams"]["blue"]["tls"] = pol["upstreams"]["green"]["tls"] = {"trusted_ca": "ca.pem"}
        pol["upstreams"]["blue"]["servers"] = [{"address": f"localhost:{blue.server_address[1]}"}]
        pol["upstreams"]["green"]["servers"] = [{"address": f"orders.internal:{green.server_address[1]}"}]
        with pytest.raises(CompileError) as err:
            build(tmp_path / "2", pol, {"orders.json": SPEC})
        [error] = [d for d in err.value.diagnostics.errors if "split variant" in d.message]
        assert "split variant 'green' differs from 'blue'" in error.message and "in tls" in error.message
        assert "against the server name 'localhost', not 'orders.internal'" in error.hint
    finally:
        blue.shutdown()
        green.shutdown()
