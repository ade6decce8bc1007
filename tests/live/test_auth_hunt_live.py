"""Authentication findings of the sixth session's hunt, live (nginx + njs): critical JWT header
parameters, claim rules on an AND of two JWTs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from tests.live.validation_support import build_gateway, nginx_t_ok
from tests.support.http import request
from tests.support.nginx import requires_nginx

pytestmark = [pytest.mark.live, requires_nginx]

A_KEY, B_KEY = "0123456789abcdef0123456789abcdef-a", "0123456789abcdef0123456789abcdef-b"
OK = {"200": {"description": "ok"}}
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "auth", "version": "1"},
    "paths": {
        "/one": {"get": {"operationId": "one", "security": [{"a": []}], "responses": OK}},
        "/both": {"get": {"operationId": "both", "security": [{"a": [], "b": []}], "responses": OK}},
    },
    "components": {"securitySchemes": {"a": {"type": "http", "scheme": "bearer"}, "b": {"type": "apiKey", "in": "header", "name": "X-Other"}}},
}


@pytest.fixture
def gw(tmp_path: Path, echo_backend, nginx_runner):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "a.key").write_text(A_KEY)
    (tmp_path / "b.key").write_text(B_KEY)
    policies = {
        "sec": {"kind": "openapi_security", "schemes": {"a": "ja", "b": "jb"}},
        "ja": {"kind": "jwt", "keys": [{"secret": str(tmp_path / "a.key"), "alg": "HS256"}]},
        "jb": {"kind": "jwt", "keys": [{"secret": str(tmp_path / "b.key"), "alg": "HS256"}], "token": {"from": "header", "name": "X-Other"}},
        "admins": {"kind": "claims", "rules": [{"claim": "role", "in": ["admin"]}]},
    }
    api = {"name": "a", "spec": str(tmp_path / "spec.json"), "use": ["sec"], "operations": {"both": {"use": ["admins"]}}}
    bundle, port = build_gateway(tmp_path, echo_backend("auth").address, policies, [api])
    nginx_t_ok(bundle)
    return nginx_runner(bundle, port)


def _token(key: str, headers: dict | None = None, **claims) -> str:
    return jwt.encode({"sub": "u1", "exp": int(time.time()) + 300, **claims}, key, "HS256", headers=headers)


def test_a_token_with_critical_header_parameters_is_refused(gw) -> None:
    """RFC 7515 4.1.11: a `crit` extension must be understood, and none is (accepted before)."""
    assert request("GET", f"{gw.url}/one", headers={"Authorization": f"Bearer {_token(A_KEY)}"}).status == 200
    crit = _token(A_KEY, headers={"crit": ["x-must-understand"], "x-must-understand": True})
    r = request("GET", f"{gw.url}/one", headers={"Authorization": f"Bearer {crit}"})
    assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("a_role", "b_role", "status"), [("admin", "admin", 200), ("admin", "user", 403), ("user", "admin", 403)])
def test_claim_rules_hold_for_every_token_of_an_and(gw, a_role: str, b_role: str, status: int) -> None:
    """Only the JWT whose policy sorts last was checked (renaming a policy flipped the answer)."""
    headers = {"Authorization": f"Bearer {_token(A_KEY, role=a_role)}", "X-Other": _token(B_KEY, role=b_role)}
    assert request("GET", f"{gw.url}/both", headers=headers).status == status
