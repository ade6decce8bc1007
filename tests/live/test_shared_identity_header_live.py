"""Several authentication policies forwarding their identity in one header, live (nginx + njs).

An api_key (`forward_as`) or mtls (`forward_dn_as`) identity was a fixed nginx variable in the
operation's location: when another policy forwarded the same header, one of them took it
whatever the alternative that passed (a valid JWT reached the upstream without its X-User-Id, the
client of a second key policy without X-Client-Name; found by a hunt). The handler now sets a
shared header from the alternative that authorized the request."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from tests.live.validation_support import nginx_t_ok
from tests.support.http import https_get, request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.workspace import write_gateway_pki

pytestmark = [pytest.mark.live, requires_nginx]

SECRET = "0123456789abcdef0123456789abcdef-hs"
PARTNER_KEY, INTERNAL_KEY = "k-partner-1234567890", "k-internal-1234567890"
OK = {"200": {"description": "ok"}}
SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "shared", "version": "1"},
    "paths": {
        # Key or token, both forwarding X-User-Id (the key policy's name sorts first).
        "/either": {"get": {"operationId": "either", "security": [{"akey": []}, {"bearer": []}], "responses": OK}},
        # Two key policies, both forwarding the default X-Client-Name, or a certificate (its DN in it too).
        "/keys": {"get": {"operationId": "keys", "security": [{"partner": []}, {"internal": []}, {"cert": []}], "responses": OK}},
        "/token": {"get": {"operationId": "token", "security": [{"bearer": []}], "responses": OK}},
    },
    "components": {
        "securitySchemes": {
            "akey": {"type": "apiKey", "in": "header", "name": "X-User-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
            "partner": {"type": "apiKey", "in": "header", "name": "X-Partner-Key"},
            "internal": {"type": "apiKey", "in": "header", "name": "X-Internal-Key"},
            "cert": {"type": "mutualTLS"},
        }
    },
}


@pytest.fixture
def gw(tmp_path: Path, echo_backend, nginx_runner):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    write_gateway_pki(ca, tmp_path)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "hs.secret").write_text(SECRET)
    (tmp_path / "user-keys.txt").write_text("batch-user: k-user-1234567890\n")
    (tmp_path / "partner.txt").write_text(f"acme: {PARTNER_KEY}\n")
    (tmp_path / "internal.txt").write_text(f"billing: {INTERNAL_KEY}\n")
    port, tls_port = free_port(), free_port()
    policy = {
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "tls": {"listen": f"127.0.0.1:{tls_port}", "certificate": "server.pem", "key": "server.key", "client_certificate": "ca.pem"},
        },
        "upstreams": {"backend": {"servers": [{"address": echo_backend("shared").address}]}},
        "policies": {
            "a-user-keys": {"kind": "api_key", "keys_file": "user-keys.txt", "name": "X-User-Key", "forward_as": "X-User-Id"},
            "jwt": {"kind": "jwt", "keys": [{"secret": "hs.secret", "alg": "HS256"}], "forward_claims": {"sub": "X-User-Id"}},
            "partner": {"kind": "api_key", "keys_file": "partner.txt", "name": "X-Partner-Key"},
            "internal": {"kind": "api_key", "keys_file": "internal.txt", "name": "X-Internal-Key"},
            "cert": {"kind": "mtls", "forward_dn_as": "X-Client-Name"},
            "oas": {"kind": "openapi_security", "schemes": {"akey": "a-user-keys", "bearer": "jwt", "partner": "partner",
                                                            "internal": "internal", "cert": "cert"}},
        },
        "apis": [{"name": "a", "spec": "spec.json", "upstream": "backend", "use": ["oas"]}],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    compiled = compile_policy(tmp_path / "policy.json")
    assert compiled.bundle is not None
    write_atomic(compiled.bundle, tmp_path / "bundle")
    nginx_t_ok(tmp_path / "bundle")
    return nginx_runner(tmp_path / "bundle", port), tls_port, ca


def _token() -> str:
    return jwt.encode({"sub": "alice", "exp": int(time.time()) + 300}, SECRET, "HS256")


def _upstream_headers(gw, path: str, **headers: str) -> dict:
    resp = request("GET", f"{gw[0].url}{path}", headers={k.replace("_", "-"): v for k, v in headers.items()})
    assert resp.status == 200, (path, resp.status, resp.text)
    return resp.json()["headers"]


def test_a_jwt_identity_in_a_header_an_api_key_policy_forwards_too(gw) -> None:
    assert _upstream_headers(gw, "/either", Authorization=f"Bearer {_token()}", X_User_Id="root")["x-user-id"] == "alice"
    assert _upstream_headers(gw, "/either", X_User_Key="k-user-1234567890")["x-user-id"] == "batch-user"
    # Both valid: the alternative tried first (policy-name order) authorizes and names the caller.
    both = _upstream_headers(gw, "/either", X_User_Key="k-user-1234567890", Authorization=f"Bearer {_token()}")
    assert both["x-user-id"] == "batch-user"
    assert _upstream_headers(gw, "/token", Authorization=f"Bearer {_token()}")["x-user-id"] == "alice"


def test_two_key_policies_and_a_certificate_share_the_client_header(gw) -> None:
    assert _upstream_headers(gw, "/keys", X_Partner_Key=PARTNER_KEY, X_Client_Name="billing")["x-client-name"] == "acme"
    assert _upstream_headers(gw, "/keys", X_Internal_Key=INTERNAL_KEY, X_Client_Name="acme")["x-client-name"] == "billing"
    resp = request("GET", f"{gw[0].url}/keys", headers={"X-Client-Name": "acme"})
    assert resp.status == 401
    _, tls_port, ca = gw
    client = ca.issue_cert("c@x.test", common_name="cert-client")
    status, raw = https_get(tls_port, "/keys", ca, client, headers={"X-Client-Name": "acme"})
    body = json.loads(raw)
    assert status == 200 and "CN=cert-client" in body["headers"]["x-client-name"]
