"""TLS termination with a certificate made in the test (trustme): protocol floor, SNI
certificates, unknown names refused, HSTS, HTTP -> HTTPS redirect."""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support.compose import build, openapi
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [
    pytest.mark.live,
    requires_nginx,
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning"),
]

SPEC = openapi({"/things": {"get": "listThings"}})


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_cert(ca: trustme.CA, root: Path, stem: str, *names: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    cert = ca.issue_cert(*names)
    cert.private_key_pem.write_to_path(str(root / f"{stem}.key"))
    cert.cert_chain_pems[0].write_to_path(str(root / f"{stem}.pem"))


def make(
    tmp_path: Path, ca: trustme.CA, backend: str, tls: dict[str, Any], server_name: Any = "api.test"
) -> tuple[Path, int, int]:
    write_cert(ca, tmp_path / "in", "api", "api.test")
    port, tls_port = free_port(), free_port()
    policy = {
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "server_name": server_name,
            "tls": {"listen": f"127.0.0.1:{tls_port}", "certificate": "api.pem", "key": "api.key", **tls},
        },
        "upstreams": {"things": {"servers": [{"address": backend}]}},
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things"}],
    }
    return build(tmp_path, policy, {"things.json": SPEC}), port, tls_port


def https_get(
    port: int, ctx: ssl.SSLContext, host: str = "api.test", path: str = "/things"
) -> http.client.HTTPResponse:
    # Connect to 127.0.0.1 but send (and verify) the SNI name `host`.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sock = ctx.wrap_socket(sock, server_hostname=host)
    conn.request("GET", path, headers={"Host": host})
    resp = conn.getresponse()
    resp.read()
    return resp


def client_ctx(ca: trustme.CA, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if version is not None:
        # Let the client offer old versions at all (OpenSSL 3 refuses them at security level 1),
        # so a refusal can only come from the gateway.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


def test_tls_terminates_and_refuses_tls11(tmp_path, ca, echo_backend, nginx_runner) -> None:
    backend = echo_backend("things")
    bundle, port, tls_port = make(tmp_path, ca, backend.address, {"hsts": {"max_age": 600}})
    nginx_runner(bundle, tls_port)
    resp = https_get(tls_port, client_ctx(ca))
    assert resp.status == 200
    assert resp.headers["Strict-Transport-Security"] == "max-age=600"
    tls12 = https_get(tls_port, client_ctx(ca, ssl.TLSVersion.TLSv1_2))
    assert tls12.status == 200
    with pytest.raises(ssl.SSLError):
        https_get(tls_port, client_ctx(ca, ssl.TLSVersion.TLSv1_1))
    # HSTS is never sent over plain HTTP.
    plain = request("GET", f"http://127.0.0.1:{port}/things", headers={"Host": "api.test"})
    assert plain.status == 200
    assert plain.headers["Strict-Transport-Security"] is None


def test_tls11_works_when_allowed(tmp_path, ca, echo_backend, nginx_runner) -> None:
    """Control for the test above: the same client gets through when the gateway allows TLS 1.1."""
    backend = echo_backend("things")
    tls = {"protocols": ["TLSv1.1", "TLSv1.2"], "ciphers": "DEFAULT:@SECLEVEL=0"}
    bundle, _port, tls_port = make(tmp_path, ca, backend.address, tls)
    nginx_runner(bundle, tls_port)
    assert https_get(tls_port, client_ctx(ca, ssl.TLSVersion.TLSv1_1)).status == 200


def test_sni_certificates_unknown_names_and_redirect(tmp_path, ca, echo_backend, nginx_runner) -> None:
    backend = echo_backend("things")
    write_cert(ca, tmp_path / "in", "other", "other.test")
    tls = {
        "certificates": [{"server_names": ["other.test"], "certificate": "other.pem", "key": "other.key"}],
        "reject_unknown_names": True,
        "redirect_http": True,
    }
    bundle, port, tls_port = make(tmp_path, ca, backend.address, tls)
    assert oct((bundle / "secrets" / "api.key").stat().st_mode & 0o777) == "0o600"
    # The keys stay 0600 (the build user's), as deployed: certificates chosen by name are loaded
    # by the workers at each handshake, which once failed for every name (found by a hunt).
    nginx_runner(bundle, tls_port, keep_secret_modes=True)
    ctx = client_ctx(ca)  # verifies the certificate matches the name asked for
    assert https_get(tls_port, ctx, "api.test").status == 200
    assert https_get(tls_port, ctx, "other.test").status == 200
    with pytest.raises(ssl.SSLError):
        https_get(tls_port, ctx, "unknown.test")
    r = request("GET", f"http://127.0.0.1:{port}/things?a=1", headers={"Host": "api.test"})
    assert r.status == 301
    assert r.headers["Location"] == f"https://api.test:{tls_port}/things?a=1"


def test_keys_chosen_by_name_stay_out_of_the_semantic_diff(tmp_path, ca) -> None:
    """The keys of certificates chosen by name are data in a secret include: a diff lists the
    file as changed, never its content."""
    import shutil

    from apigen.diff.semantic import semantic_diff
    from apigen.diff.textdiff import file_changes, read_bundle_dir

    write_cert(ca, tmp_path / "in", "other", "other.test")
    tls = {"certificates": [{"server_names": ["other.test"], "certificate": "other.pem", "key": "other.key"}]}
    old, _port, _tls = make(tmp_path, ca, "127.0.0.1:9", tls)
    shutil.copytree(old, tmp_path / "old")
    write_cert(ca, tmp_path / "in", "other", "other.test")  # a new key for other.test
    new, _port, _tls = make(tmp_path, ca, "127.0.0.1:9", tls)
    changes, errors = semantic_diff(tmp_path / "old", new)
    assert not errors
    assert not any("PRIVATE" in str(c) or "data:" in str(c) for c in changes), changes
    assert "secrets/tls-sni-keys.conf" in file_changes(read_bundle_dir(tmp_path / "old"), read_bundle_dir(new))["changed"]


def test_hsts_on_validation_rejections_and_preflights(tmp_path, ca, echo_backend, nginx_runner) -> None:
    """Found by a hunt: locations that set their own headers (the validator's, the preflight's)
    dropped the server-level Strict-Transport-Security."""
    backend = echo_backend("things")
    write_cert(ca, tmp_path / "in", "api", "api.test")
    port, tls_port = free_port(), free_port()
    policy = {
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "server_name": "api.test",
            "tls": {"listen": f"127.0.0.1:{tls_port}", "certificate": "api.pem", "key": "api.key"},
            "use": ["web", "strict"],
        },
        "upstreams": {"things": {"servers": [{"address": backend.address}]}},
        "policies": {
            "web": {"kind": "cors", "origins": ["https://app.test"]},
            "strict": {"kind": "validation", "unknown_query_params": "reject"},
        },
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things"}],
    }
    nginx_runner(build(tmp_path, policy, {"things.json": SPEC}), tls_port)

    def send(method: str, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", tls_port, timeout=5)
        conn.sock = client_ctx(ca).wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=5), server_hostname="api.test")
        conn.request(method, path, headers={"Host": "api.test", **headers})
        resp = conn.getresponse()
        resp.read()
        return resp

    rejected = send("GET", "/things?nope=1", {})
    assert rejected.status == 400 and rejected.headers["Strict-Transport-Security"]
    preflight = send("OPTIONS", "/things", {"Origin": "https://app.test", "Access-Control-Request-Method": "GET"})
    assert preflight.status == 204 and preflight.headers["Strict-Transport-Security"]


def test_wildcard_certificate_is_not_served_for_the_bare_domain(tmp_path, ca, echo_backend, nginx_runner) -> None:
    """Found by a hunt: `*.example.test` became the map key `.example.test`, which nginx also
    matches for `example.test`: the apex got the wildcard certificate (hostname mismatch)."""
    backend = echo_backend("things")
    write_cert(ca, tmp_path / "in", "apex", "example.test")
    write_cert(ca, tmp_path / "in", "wild", "*.example.test")
    port, tls_port = free_port(), free_port()
    policy = {
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "server_name": "example.test",
            "tls": {
                "listen": f"127.0.0.1:{tls_port}",
                "certificate": "apex.pem",
                "key": "apex.key",
                "certificates": [{"server_names": ["*.example.test"], "certificate": "wild.pem", "key": "wild.key"}],
            },
        },
        "upstreams": {"things": {"servers": [{"address": backend.address}]}},
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things"}],
    }
    nginx_runner(build(tmp_path, policy, {"things.json": SPEC}), tls_port)
    ctx = client_ctx(ca)  # verifies the certificate matches the name asked for
    for host in ("example.test", "a.example.test"):
        assert https_get(tls_port, ctx, host).status == 200, host


def test_host_other_than_the_sni_name_gets_json_421(tmp_path, ca, echo_backend, nginx_runner) -> None:
    """With client certificates verified, nginx answers 421 to a Host that differs from the SNI
    name; it was nginx's HTML page without X-Request-ID (found by a hunt)."""
    import json

    backend = echo_backend("things")
    write_cert(ca, tmp_path / "in", "other", "other.test")
    ca.cert_pem.write_to_path(str(tmp_path / "in" / "clients-ca.pem"))
    tls = {
        "client_certificate": "clients-ca.pem",
        "certificates": [{"server_names": ["other.test"], "certificate": "other.pem", "key": "other.key"}],
    }
    bundle, _port, tls_port = make(tmp_path, ca, backend.address, tls, server_name=["api.test"])
    nginx_runner(bundle, tls_port)
    conn = http.client.HTTPConnection("127.0.0.1", tls_port, timeout=5)
    sock = socket.create_connection(("127.0.0.1", tls_port), timeout=5)
    conn.sock = client_ctx(ca).wrap_socket(sock, server_hostname="other.test")
    conn.request("GET", "/things", headers={"Host": "api.test"})
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 421
    assert resp.headers["Content-Type"] == "application/json" and resp.headers["X-Request-ID"]
    assert json.loads(body)["status"] == 421
    assert https_get(tls_port, client_ctx(ca), "other.test").status == 200  # the same names agree
