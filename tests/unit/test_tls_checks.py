"""TLS settings that were accepted and then ignored or mishandled (found by a hunt): each is now
an error or a warning at its policy line, or handled as the documentation says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from apigen.diagnostics import CompileError
from apigen.pipeline import compile_policy
from tests.support.compose import openapi, write_inputs

SPEC = openapi({"/things": {"get": "listThings"}})


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    for stem, name in (("api", "api.test"), ("client", "gw.test")):
        cert = ca.issue_cert(name)
        cert.private_key_pem.write_to_path(str(root / f"{stem}.key"))
        cert.cert_chain_pems[0].write_to_path(str(root / f"{stem}.pem"))
        # certificate followed by its key, haproxy style
        (root / f"{stem}-combined.pem").write_bytes(cert.cert_chain_pems[0].bytes() + cert.private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    (root / "ca-with-key.pem").write_bytes(ca.cert_pem.bytes() + ca.private_key_pem.bytes())
    return root


def policy(pki: Path, tls: dict[str, Any] | None = None, upstream: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    gateway: dict[str, Any] = {"listen": 8080, "server_name": "api.test"}
    if tls is not None:
        gateway["tls"] = {"listen": 8443, "certificate": str(pki / "api.pem"), "key": str(pki / "api.key"), **tls}
    return {
        "gateway": gateway,
        "upstreams": {"things": {"servers": [{"address": "127.0.0.1:9001"}], **(upstream or {})}},
        "apis": [{"name": "things", "spec": "things.json", "upstream": "things"}],
        **top,
    }


def compiled(tmp_path: Path, data: dict[str, Any]) -> Any:
    return compile_policy(write_inputs(tmp_path / "in", data, {"things.json": SPEC}))


def errors_of(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(CompileError) as exc:
        compiled(tmp_path, data)
    return [d.format() for d in exc.value.diagnostics.errors]


def line_of(tmp_path: Path, key: str) -> int:
    """The line of the policy file (JSON, one key per line) where ``key`` is written."""
    lines = (tmp_path / "in" / "policy.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if f'"{key}":' in line)


def test_private_key_in_a_certificate_file_is_not_copied_world_readable(tmp_path, pki) -> None:
    """A combined PEM (certificate + key) given as a certificate, a client CA or an upstream CA or
    client certificate: its tls/ copy (mode 0644) holds only the certificates, with a warning."""
    data = policy(
        pki,
        {"certificate": str(pki / "api-combined.pem"), "client_certificate": str(pki / "ca-with-key.pem")},
        {
            "protocol": "https",
            "tls": {
                "trusted_ca": str(pki / "ca-with-key.pem"),
                "server_name": "backend.test",
                "client_certificate": str(pki / "client-combined.pem"),
                "client_key": str(pki / "client.key"),
            },
        },
    )
    result = compiled(tmp_path, data)
    assert result.bundle is not None
    public = {p: t for p, t in result.bundle.files.items() if p.startswith("tls/")}
    assert set(public) == {"tls/api-combined.pem", "tls/ca-with-key.pem", "tls/client-combined.pem"}, public
    for path, text in public.items():
        assert "PRIVATE KEY" not in text and "-----BEGIN CERTIFICATE-----" in text, path
    warnings = [d.format() for d in result.diagnostics.warnings]
    assert len(warnings) == 4, warnings  # the CA file is named twice
    assert all("also holds a private key" in w and "policy.yaml:" in w for w in warnings), warnings
    assert any(f"policy.yaml:{line_of(tmp_path, 'certificate')}:" in w for w in warnings), warnings


def test_verify_client_without_client_certificate_is_an_error(tmp_path, pki) -> None:
    """`verify_client: on` without the CA of client certificates built a gateway that served
    clients without a certificate (nginx got no ssl_verify_client at all)."""
    errs = errors_of(tmp_path, policy(pki, {"verify_client": "on", "verify_depth": 2}))
    for key in ("verify_client", "verify_depth"):
        assert any(
            f"{key} needs client_certificate" in e and f"policy.yaml:{line_of(tmp_path, key)}:" in e for e in errs
        ), errs
    ok = compiled(tmp_path, policy(pki, {"verify_client": "on", "client_certificate": str(pki / "ca.pem")}))
    assert ok.bundle is not None and "ssl_verify_client on;" in ok.bundle.files["api_gateway.conf"]


@pytest.mark.parametrize("protocol", [None, "http", "grpc"])
def test_upstream_tls_without_a_tls_protocol_is_an_error(tmp_path, pki, protocol) -> None:
    """An upstream with a CA and a client certificate but no https/grpcs protocol was proxied in
    cleartext, its tls settings dropped without a word."""
    upstream: dict[str, Any] = {"tls": {"trusted_ca": str(pki / "ca.pem"), "server_name": "backend.test"}}
    if protocol:
        upstream["protocol"] = protocol
    errs = errors_of(tmp_path, policy(pki, None, upstream))
    assert any(
        f"tls needs protocol https or grpcs: with protocol {protocol or 'http'}" in e
        and f"policy.yaml:{line_of(tmp_path, 'tls')}:" in e
        for e in errs
    ), errs


def test_default_server_of_an_old_target_has_no_ssl_reject_handshake(tmp_path, pki) -> None:
    """nginx before 1.19.4 has no ssl_reject_handshake: the unknown-host server of a 1.18 target
    presents the gateway certificate and answers 444 (it got the directive: nginx -t failed)."""
    old = compiled(tmp_path, policy(pki, {}, target={"flavor": "oss", "version": "1.18"}))
    assert old.bundle is not None
    conf = old.bundle.files["api_gateway.conf"]
    assert "ssl_reject_handshake" not in conf and conf.count('ssl_certificate "tls/api.pem";') == 2
    new = compiled(tmp_path, policy(pki, {}, target={"flavor": "oss", "version": "1.19.4"}))
    assert new.bundle is not None and "ssl_reject_handshake on;" in new.bundle.files["api_gateway.conf"]


def test_target_older_than_the_directive_data_is_an_error(tmp_path, pki) -> None:
    errs = errors_of(tmp_path, policy(pki, None, target={"flavor": "oss", "version": "1.16"}))
    assert any(
        "target: nginx 1.16 is older than 1.18.0" in e and f"policy.yaml:{line_of(tmp_path, 'version')}:" in e
        for e in errs
    ), errs


@pytest.mark.parametrize(
    ("address", "tls", "warned"),
    [
        ("127.0.0.1:8443", {}, True),
        ("[::1]:8443", {}, True),
        ("unix:/run/backend.sock", {}, True),
        ("backend.test:8443", {}, False),
        ("127.0.0.1:8443", {"server_name": "backend.test"}, False),
        ("127.0.0.1:8443", {"verify": False}, False),
    ],
)
def test_https_upstream_verified_by_ip_address_warns(tmp_path, pki, address, tls, warned) -> None:
    """proxy_ssl_name defaulted to the first server's IP address, which nginx's certificate check
    (DNS names only) never accepts: every request got 502 (found by a hunt)."""
    upstream = {
        "servers": [{"address": address}],
        "protocol": "https",
        "tls": {"trusted_ca": str(pki / "ca.pem"), **tls},
    }
    result = compiled(tmp_path, policy(pki, None, upstream))
    warnings = [d.format() for d in result.diagnostics.warnings if "server_name" in d.hint]
    if warned:
        assert len(warnings) == 1 and f"policy.yaml:{line_of(tmp_path, 'tls')}:" in warnings[0], warnings
        assert "DNS names only" in warnings[0]
    else:
        assert not warnings, warnings
