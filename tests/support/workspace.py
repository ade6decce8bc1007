"""A small, complete apigen input (policy + OpenAPI spec + TLS files) to mutate in tests.

`base_inputs()` returns plain dicts; tests change one field and `write_workspace()` writes them as
JSON (valid YAML, and able to carry any character, NUL included, as an escape).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

_SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Hostile", "version": "1.0.0"},
    "paths": {
        "/items": {"get": {"operationId": "listItems", "responses": {"200": {"description": "ok"}}}},
        "/items/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "getItem", "responses": {"200": {"description": "ok"}}},
        },
    },
}

_POLICY: dict[str, Any] = {
    "target": {"flavor": "oss", "version": "1.22"},
    "gateway": {
        "listen": "127.0.0.1:18080",
        "server_name": "api.example.com",
        "operation_header": "X-Apigen-Operation",
        "tls": {"listen": "127.0.0.1:18443", "certificate": "certs/gateway.pem", "key": "certs/gateway.key"},
    },
    "upstreams": {"main": {"servers": [{"address": "127.0.0.1:9001"}]}},
    "policies": {
        "hdrs": {
            "kind": "headers",
            "request": {"set": {"X-Static": "static"}, "remove": ["X-Remove-Me"]},
            "response": {"set": {"X-Frame-Options": "DENY"}, "hide": ["X-Powered-By"]},
        }
    },
    "apis": [{"name": "main", "spec": "openapi.json", "base_path": "/v1", "upstream": "main", "use": ["hdrs"]}],
}


def base_inputs() -> tuple[dict[str, Any], dict[str, Any]]:
    """(policy, spec) as fresh mutable copies."""
    return copy.deepcopy(_POLICY), copy.deepcopy(_SPEC)


@functools.cache
def tls_pair() -> tuple[str, str]:
    """A self-signed certificate and its key (PEM), made once per process."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("api.example.com")
    return cert.cert_chain_pems[0].bytes().decode(), cert.private_key_pem.bytes().decode()


def write_tls_file(path: Path, which: str) -> None:
    cert, key = tls_pair()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cert if which == "cert" else key)


def write_default_tls(root: Path) -> None:
    for name, which in (("gateway.pem", "cert"), ("gateway.key", "key")):
        if not (root / "certs" / name).exists():
            write_tls_file(root / "certs" / name, which)


def write_workspace(root: Path, policy: dict[str, Any], spec: dict[str, Any] | None) -> Path:
    """Write policy.json (+ openapi.json and the default TLS files); return the policy path."""
    root.mkdir(parents=True, exist_ok=True)
    if spec is not None:
        (root / "openapi.json").write_text(json.dumps(spec, indent=1))
    write_default_tls(root)
    path = root / "policy.json"
    path.write_text(json.dumps(policy, indent=1))
    return path


def write_gateway_pki(ca: Any, root: Path) -> None:
    """The gateway's TLS files from a trustme ``ca``: ``server.pem`` (its chain) and
    ``server.key`` for 127.0.0.1 and localhost, and ``ca.pem`` (to trust it, or as the
    ``client_certificate`` CA for mTLS)."""
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
    server.private_key_pem.write_to_path(str(root / "server.key"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
