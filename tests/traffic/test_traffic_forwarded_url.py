"""Client-sent URL headers (X-Forwarded-Port/-Prefix/-Ssl/-Scheme, X-Original-URL, X-Rewrite-URL)
never reach the upstream, live (nginx + echo backend).

An upstream that trusts the gateway as its proxy builds its links from them (Spring, Symfony,
Werkzeug's ProxyFix, Rack) or routes by them (X-Original-URL: old Symfony, Zend, IIS). They went
upstream as the client sent them, and on a cached operation the answer built from one client's
`X-Forwarded-Prefix: //evil.example` was served from the cache to every other client of the URI
(the header is not in the key; found by a hunt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, compile_errors, policy_for

FORGED = {
    "X-Forwarded-Port": "1337",
    "X-Forwarded-Prefix": "//evil.example",
    "X-Forwarded-Ssl": "off",
    "X-Forwarded-Scheme": "http",
    "X-Original-URL": "/admin",
    "X-Rewrite-URL": "/admin",
}


@pytest.mark.live
@requires_nginx
def test_forged_url_headers_do_not_reach_the_upstream_nor_the_cache(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    policies = {
        "cached": {"kind": "cache"},
        "prefix": {"kind": "headers", "request": {"set": {"X-Forwarded-Prefix": "/api"}}},
    }
    policy = policy_for(
        port,
        {"main": [backend.address]},
        policies=policies,
        api={"use": ["cached"], "operations": {"createPet": {"use": ["prefix"]}}},
    )
    nginx = nginx_runner(build(tmp_path, policy), port)
    forged = {name.lower() for name in FORGED}

    r = request("GET", f"{nginx.url}/v1/pets?page=1", headers=FORGED)
    assert (r.status, r.headers["X-Cache-Status"]) == (200, "MISS")
    assert not forged & set(r.json()["headers"]), r.json()["headers"]
    # The next client gets the cached answer, built without the forged headers.
    r = request("GET", f"{nginx.url}/v1/pets?page=1")
    assert (r.status, r.headers["X-Cache-Status"]) == (200, "HIT")
    assert not forged & set(r.json()["headers"])
    # Uncached operations too; a headers policy that sets one still decides it.
    r = request("POST", f"{nginx.url}/v1/pets", headers=FORGED)
    seen = r.json()["headers"]
    assert seen["x-forwarded-prefix"] == "/api" and not (forged - {"x-forwarded-prefix"}) & set(seen), seen
    r = request("DELETE", f"{nginx.url}/v1/pets/1", headers=FORGED)
    assert r.status == 200 and not forged & set(r.json()["headers"])


def test_appending_to_a_forwarded_url_header_is_refused(tmp_path: Path) -> None:
    policies = {"h": {"kind": "headers", "request": {"append": {"X-Forwarded-Prefix": "/api"}}}}
    errors = compile_errors(tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api={"use": ["h"]}))
    assert any("X-Forwarded-Prefix" in e for e in errors), errors
