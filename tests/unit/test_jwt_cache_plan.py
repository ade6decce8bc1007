"""What the JWT verification cache (``cache:`` of a jwt policy) generates, and when it does not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from apigen.pipeline import compile_policy
from tests.unit import test_security_policies as sec
from tests.unit.test_security_policies import BASE, errors_of

SPEC = {**sec.SPEC, "paths": {**sec.SPEC["paths"], "/c": {"get": {"operationId": "getC", "security": [{"key": []}], "responses": {"200": {"description": "ok"}}}}}}


def write_case(tmp_path: Path, policies: dict) -> Path:
    path = sec.write_case(tmp_path, policies)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    return path

CACHE = {"listen": "127.0.0.1:8099", "ttl": 30}


def gateway_conf(path: Path) -> str:
    compiled = compile_policy(path)
    assert compiled.bundle is not None
    return compiled.bundle.files["api_gateway.conf"]


def auth_locations(conf: str) -> dict[str, str]:
    """auth location uri -> its body."""
    return dict(re.findall(r'location = "(/_apigen/auth/[0-9a-f]+)" \{\n(.*?)\n    \}', conf, re.S))


def test_cached_jwt_requirement_proxies_through_the_cache(tmp_path: Path) -> None:
    conf = gateway_conf(write_case(tmp_path, {**BASE, "jwt": {**BASE["jwt"], "cache": CACHE}}))
    assert "proxy_cache_path \"temp/apigen_auth_cache\"" in conf and "inactive=30s" in conf
    assert "listen 127.0.0.1:8099;" in conf.replace('"', "")
    bodies = list(auth_locations(conf).values())
    cached = [b for b in bodies if "proxy_cache apigen_auth;" in b]
    direct = [b for b in bodies if "js_content" in b]
    # getA and unknown paths (bearer) are cached; getC (API key: a variable of the original
    # request) is not.
    assert len(cached) == 2 and len(direct) == 1, bodies
    assert "$http_authorization" in cached[0] and "internal;" in cached[0]


@pytest.mark.parametrize("policy", [dict(BASE["jwt"]), {**BASE["jwt"], "cache": {**CACHE, "ttl": 0}},
                                    {**BASE["jwt"], "cache": CACHE, "token": {"from": "query", "name": "t"}}])
def test_no_cache_without_listen_with_ttl_0_or_for_query_tokens(tmp_path: Path, policy: dict) -> None:
    conf = gateway_conf(write_case(tmp_path, {**BASE, "jwt": policy}))
    assert "proxy_cache" not in conf and "apigen_auth_cache" not in conf


def test_a_key_change_changes_the_cache_key(tmp_path: Path) -> None:
    path = write_case(tmp_path, {**BASE, "jwt": {**BASE["jwt"], "cache": CACHE}})
    before = re.findall(r"proxy_cache_key (.*);", gateway_conf(path))
    (tmp_path / "secret").write_text("t" * 40)
    after = re.findall(r"proxy_cache_key (.*);", gateway_conf(path))
    assert before and after and before != after


@pytest.mark.parametrize("listen", ["unix:run/auth.sock", "0.0.0.0:8099", "10.0.0.1:80", "unix:/a b.sock"])
def test_the_verifier_listens_on_loopback_or_an_absolute_socket_only(tmp_path: Path, listen: str) -> None:
    assert errors_of(write_case(tmp_path, {**BASE, "jwt": {**BASE["jwt"], "cache": {"listen": listen}}}))


@pytest.mark.parametrize("listen", ["127.0.0.1:8080", "127.0.0.1:0", "127.0.0.1:70000"])
def test_the_verifier_needs_a_port_of_its_own(tmp_path: Path, listen: str) -> None:
    errors = errors_of(write_case(tmp_path, {**BASE, "jwt": {**BASE["jwt"], "cache": {"listen": listen}}}))
    assert any("cache.listen" in e and "policy.json:" in e for e in errors), errors
