"""Optional authentication, live (nginx + njs): an OpenAPI `security` list with an empty
alternative `{}` next to others. Anonymous clients pass; a credential the client does send is
checked (a forged token was passed upstream unchecked) and its identity forwarded (a valid one
reached the upstream without it): the operation was read as public (found by a hunt)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from apigen.bundle import write_atomic
from apigen.diagnostics import CompileError
from apigen.pipeline import compile_policy
from tests.live.validation_support import nginx_t_ok
from tests.support.http import https_get, request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.workspace import write_gateway_pki

pytestmark = [pytest.mark.live, requires_nginx]

SECRET = "0123456789abcdef0123456789abcdef-hs"
API_KEY = "k-1234567890abcdef"
OK = {"200": {"description": "ok"}}
SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "optional", "version": "1"},
    "security": [{"bearer": ["read"]}],
    "paths": {
        "/opt-jwt": {"get": {"operationId": "optJwt", "security": [{}, {"bearer": ["read"]}], "responses": OK}},
        "/opt-key": {"get": {"operationId": "optKey", "security": [{"key": []}, {}], "responses": OK}},
        "/opt-and": {"get": {"operationId": "optAnd", "security": [{"key": [], "bearer": []}, {}], "responses": OK}},
        "/opt-cert": {"get": {"operationId": "optCert", "security": [{"cert": []}, {}], "responses": OK}},
        "/public": {"get": {"operationId": "public", "security": [], "responses": OK}},
        "/private": {"get": {"operationId": "private", "responses": OK}},
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://x.test/t", "scopes": {"read": "r"}}}},
            "key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "cert": {"type": "mutualTLS"},
        }
    },
}


def _policies(tmp_path: Path) -> dict:
    (tmp_path / "hs.secret").write_text(SECRET)
    (tmp_path / "keys.txt").write_text(f"batch: {API_KEY}\n")
    return {
        "jwt": {"kind": "jwt", "keys": [{"secret": str(tmp_path / "hs.secret"), "alg": "HS256"}], "forward_claims": {"sub": "X-User-Id"}},
        "keys": {"kind": "api_key", "keys_file": str(tmp_path / "keys.txt")},
        "cert": {"kind": "mtls"},
        "oas": {"kind": "openapi_security", "schemes": {"bearer": "jwt", "key": "keys", "cert": "cert"}},
    }


@pytest.fixture
def gw(tmp_path: Path, echo_backend, nginx_runner):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    write_gateway_pki(ca, tmp_path)
    client = ca.issue_cert("client@x.test", common_name="batch-client")
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    port, tls_port = free_port(), free_port()
    policy = {
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "tls": {"listen": f"127.0.0.1:{tls_port}", "certificate": "server.pem", "key": "server.key", "client_certificate": "ca.pem"},
        },
        "upstreams": {"backend": {"servers": [{"address": echo_backend("optional").address}]}},
        "policies": _policies(tmp_path),
        "apis": [{"name": "a", "spec": "spec.json", "upstream": "backend", "use": ["oas"]}],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    compiled = compile_policy(tmp_path / "policy.json")
    assert compiled.bundle is not None
    bundle = tmp_path / "bundle"
    write_atomic(compiled.bundle, bundle)
    nginx_t_ok(bundle)
    return nginx_runner(bundle, port), tls_port, ca, client


def _token(key: str = SECRET, **claims) -> str:
    return jwt.encode({"sub": "alice", "exp": int(time.time()) + 300, **claims}, key, "HS256")


def _get(gw, path: str, **headers: str):
    return request("GET", f"{gw[0].url}{path}", headers={k.replace("_", "-"): v for k, v in headers.items()})


def _https_get(gw, path: str, cert=None) -> tuple[int, dict]:
    _, tls_port, ca, _ = gw
    status, body = https_get(tls_port, path, ca, cert)
    return status, json.loads(body)


def test_anonymous_clients_pass_without_any_identity(gw) -> None:
    for path in ("/opt-jwt", "/opt-key", "/opt-and", "/opt-cert"):
        resp = _get(gw, path, X_User_Id="root", X_Client_Name="batch", X_Client_Cert_Subject="CN=root")
        assert resp.status == 200, (path, resp.status)
        headers = resp.json()["headers"]
        assert not {"x-user-id", "x-client-name", "x-client-cert-subject"} & set(headers), (path, headers)


def test_a_forged_token_is_refused_not_passed_upstream(gw) -> None:
    forged = _token("not-the-secret-not-the-secret-not-the", scope="read")
    for path in ("/opt-jwt", "/opt-and"):
        resp = _get(gw, path, Authorization=f"Bearer {forged}")
        assert resp.status == 401, (path, resp.status, resp.text)
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_an_unknown_api_key_is_refused(gw) -> None:
    for path in ("/opt-key", "/opt-and"):
        resp = _get(gw, path, X_API_Key="not-a-key")
        assert resp.status == 401, (path, resp.status)
        assert "ApiKey" in resp.headers["WWW-Authenticate"]


def test_valid_credentials_forward_their_identity(gw) -> None:
    headers = _get(gw, "/opt-jwt", Authorization=f"Bearer {_token(scope='read')}", X_User_Id="root").json()["headers"]
    assert headers["x-user-id"] == "alice"
    assert _get(gw, "/opt-key", X_API_Key=API_KEY).json()["headers"]["x-client-name"] == "batch"
    both = _get(gw, "/opt-and", X_API_Key=API_KEY, Authorization=f"Bearer {_token()}").json()["headers"]
    assert (both["x-client-name"], both["x-user-id"]) == ("batch", "alice")


def test_a_valid_token_without_the_scope_is_served_anonymously(gw) -> None:
    resp = _get(gw, "/opt-jwt", Authorization=f"Bearer {_token()}", X_User_Id="root")
    assert resp.status == 200 and "x-user-id" not in resp.json()["headers"]


def test_client_certificates_are_optional_too(gw) -> None:
    """Over TLS without a certificate $ssl_client_verify is NONE: nothing presented, not a failure."""
    status, body = _https_get(gw, "/opt-cert")
    assert status == 200 and "x-client-cert-subject" not in body["headers"]
    status, body = _https_get(gw, "/opt-cert", gw[3])
    assert status == 200 and "CN=batch-client" in body["headers"]["x-client-cert-subject"]


def test_public_and_required_operations_are_unchanged(gw) -> None:
    assert _get(gw, "/public", Authorization="Bearer junk").status == 200
    assert _get(gw, "/private").status == 401
    assert _get(gw, "/unknown").status == 401  # the document requires a token: unknown paths too


def test_claim_rules_on_an_optional_operation_are_a_build_error(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    policies = {**_policies(tmp_path), "admins": {"kind": "claims", "rules": [{"claim": "role", "in": ["admin"]}]}}
    policy = {
        "gateway": {"listen": f"127.0.0.1:{free_port()}"},
        "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9"}]}},
        "policies": {k: v for k, v in policies.items() if k != "cert"},
        "apis": [{"name": "a", "spec": "spec.json", "upstream": "u", "use": ["oas"], "operations": {"optJwt": {"use": ["admins"]}}}],
    }
    policy["policies"]["oas"] = {"kind": "openapi_security", "schemes": {"bearer": "jwt", "key": "keys", "cert": "keys"}}
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    with pytest.raises(CompileError) as info:
        compile_policy(tmp_path / "policy.json")
    errors = [d.format() for d in info.value.diagnostics.errors]
    assert any("a.optJwt, which also allows anonymous access" in e for e in errors), errors
