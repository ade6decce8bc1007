"""Self-tests of the live-test harness: echo backend, nginx runner, HTTP client."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.backend import EchoBackend
from tests.support.http import request, send_raw
from tests.support.nginx import NginxError, requires_nginx
from tests.support.ports import free_port, port_accepts

MAIN_CONF = """\
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log logs/access.log;
    client_body_temp_path temp/client_body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
    include conf.d/*.conf;
}
"""

SERVER_CONF = """\
upstream backend {{ server {backend}; }}
server {{
    listen 127.0.0.1:{port};
    location / {{
        {extra}
        proxy_pass http://backend;
    }}
}}
"""


def write_bundle(root: Path, port: int, backend: str, extra: str = "") -> Path:
    (root / "conf.d").mkdir(parents=True, exist_ok=True)
    (root / "nginx.conf").write_text(MAIN_CONF)
    (root / "conf.d" / "server.conf").write_text(SERVER_CONF.format(port=port, backend=backend, extra=extra))
    return root


def test_free_port_never_repeats() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50


def test_echo_backend_direct(echo_backend) -> None:
    backend = echo_backend("direct")
    r = request("PATCH", f"{backend.url}/a%2Fb/../c?x=1&x=2", headers={"X-Test": "1"}, body="hi")
    assert r.status == 200
    assert r.headers["content-length"] == str(len(r.body))
    assert r.json()["uri"] == "/a%2Fb/../c?x=1&x=2"
    assert r.json()["method"] == "PATCH"
    assert r.json()["headers"]["x-test"] == "1"
    assert r.json()["body"] == "hi"
    assert r.headers["X-Backend"] == "direct"

    r = request("GET", f"{backend.url}/s?__status=418&__header=X-Extra:yes")
    assert (r.status, r.headers["x-extra"]) == (418, "yes")
    r = request("PURGE", f"{backend.url}//double")
    assert (r.status, r.json()["uri"], r.json()["method"]) == (200, "//double", "PURGE")
    r = request("HEAD", f"{backend.url}/h")
    assert (r.status, r.body) == (200, b"")
    assert int(r.headers["content-length"]) > 0
    assert request("GET", f"{backend.url}/x?__status=204").body == b""


def test_echo_backend_sleep_and_stop() -> None:
    with EchoBackend("slow") as backend:
        with pytest.raises(TimeoutError):
            request("GET", f"{backend.url}/?__sleep=2", timeout=0.3)
        port = backend.port
    assert not port_accepts(port)


def test_echo_backend_keepalive(echo_backend) -> None:
    backend = echo_backend("ka")
    req = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    raw = send_raw(backend.port, req)
    assert raw.count(b"HTTP/1.1 200") == 2
    assert b'"uri": "/2"' in raw


@pytest.mark.live
@requires_nginx
def test_nginx_proxies_kill_and_reload(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    nginx = nginx_runner(write_bundle(tmp_path / "v1", port, backend.address), port)

    r = request("POST", f"{nginx.url}/v1/pets?limit=2&q=a%20b", headers={"X-Trace": "t1"}, body="{}")
    assert r.status == 200
    echo = r.json()
    assert (echo["backend"], echo["method"], echo["uri"]) == ("pets", "POST", "/v1/pets?limit=2&q=a%20b")
    assert (echo["headers"]["x-trace"], echo["body"]) == ("t1", "{}")

    # Larger than client_body_buffer_size: the worker must write it under temp/ in the prefix.
    big = "x" * 200_000
    r = request("PUT", f"{nginx.url}/big", body=big)
    assert r.status == 200
    assert r.json()["body"] == big

    assert "X-Reloaded" not in r.headers
    nginx.reload(write_bundle(tmp_path / "v2", port, backend.address, extra="add_header X-Reloaded yes;"))
    r = request("GET", f"{nginx.url}/after")
    assert (r.status, r.headers["x-reloaded"]) == (200, "yes")

    backend.kill()
    assert request("GET", f"{nginx.url}/dead").status == 502
    assert "connect() failed" in nginx.error_log()
    assert nginx.wait_for_log_line('"GET /dead HTTP/1.1" 502')
    assert len(nginx.access_log_lines()) == 4


@pytest.mark.live
@requires_nginx
def test_nginx_bad_config_and_bad_reload(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("b")
    port = free_port()
    with pytest.raises(NginxError, match="unknown directive"):
        nginx_runner(write_bundle(tmp_path / "bad", port, backend.address, extra="bogus_directive on;"), port)

    nginx = nginx_runner(write_bundle(tmp_path / "good", port, backend.address), port)
    with pytest.raises(NginxError, match="unknown directive"):
        nginx.reload(write_bundle(tmp_path / "bad2", port, backend.address, extra="bogus_directive on;"))
    # The rejected config was never signalled: the old one still serves.
    assert request("GET", f"{nginx.url}/still").json()["uri"] == "/still"


@pytest.mark.live
@requires_nginx
def test_nginx_reload_drops_removed_files(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("r")
    port = free_port()
    v1 = write_bundle(tmp_path / "v1", port, backend.address)
    extra_port = free_port()
    (v1 / "conf.d" / "extra.conf").write_text(f"server {{ listen 127.0.0.1:{extra_port}; return 200 extra; }}\n")
    nginx = nginx_runner(v1, port)
    assert request("GET", f"http://127.0.0.1:{extra_port}/").body == b"extra"
    nginx.reload(write_bundle(tmp_path / "v2", port, backend.address))
    assert not port_accepts(extra_port)
    assert request("GET", f"{nginx.url}/").status == 200
