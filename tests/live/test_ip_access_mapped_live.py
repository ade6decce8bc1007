"""ip_access rules written as IPv4-mapped IPv6 networks, live (nginx + echo backend).

nginx checks an IPv4 client (an IPv4 listener, or an address realip took from X-Forwarded-For)
against the IPv4 rules only: `deny: ["::ffff:127.0.0.0/104"]` never matched 127.0.0.1, which
passed (found by a hunt). Such networks are now written as the IPv4 networks they map."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from tests.live.validation_support import nginx_t_ok
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

OK = {"200": {"description": "ok"}}
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "ip", "version": "1"},
    "paths": {
        "/no-local": {"get": {"operationId": "noLocal", "responses": OK}},
        "/no-ten": {"get": {"operationId": "noTen", "responses": OK}},
        "/only-ten": {"get": {"operationId": "onlyTen", "responses": OK}},
    },
}


@pytest.fixture
def gw(tmp_path: Path, echo_backend, nginx_runner):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    port = free_port()
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "trusted_proxies": ["127.0.0.1/32"]},
        "upstreams": {"backend": {"servers": [{"address": echo_backend("ip").address}]}},
        "policies": {
            "no-local": {"kind": "ip_access", "deny": ["::ffff:127.0.0.1"]},
            "no-ten": {"kind": "ip_access", "deny": ["::ffff:10.0.0.0/104"]},
            "only-ten": {"kind": "ip_access", "allow": ["::ffff:10.0.0.0/104"]},
        },
        "apis": [{"name": "a", "spec": "spec.json", "upstream": "backend", "operations": {
            "noLocal": {"use": ["no-local"]}, "noTen": {"use": ["no-ten"]}, "onlyTen": {"use": ["only-ten"]}}}],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    compiled = compile_policy(tmp_path / "policy.json")
    assert compiled.bundle is not None
    write_atomic(compiled.bundle, tmp_path / "bundle")
    nginx_t_ok(tmp_path / "bundle")
    return nginx_runner(tmp_path / "bundle", port)


def _status(gw, path: str, client: str | None = None) -> int:
    return request("GET", f"{gw.url}{path}", headers={"X-Forwarded-For": client} if client else {}).status


def test_a_mapped_deny_refuses_the_ipv4_client(gw) -> None:
    assert _status(gw, "/no-local") == 403  # the peer, 127.0.0.1 (no X-Forwarded-For)
    assert _status(gw, "/no-ten", "10.1.2.3") == 403  # realip from the trusted proxy
    assert _status(gw, "/no-ten", "192.0.2.1") == 200


def test_a_mapped_allow_admits_the_ipv4_client(gw) -> None:
    assert _status(gw, "/only-ten", "10.1.2.3") == 200
    assert _status(gw, "/only-ten", "192.0.2.1") == 403
