"""rewrite: prefix replacement and path templates from OpenAPI parameters, against a real nginx."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apigen.plan.paths import PathTemplate
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, compile_errors, policy_for

POLICIES = {
    "moved": {"kind": "rewrite", "replace_prefix": {"from": "/v1/pets", "to": "/api/v2/animals"}},
    "animal": {"kind": "rewrite", "template": "/internal/animals/{petId}"},
    "swap": {"kind": "rewrite", "template": "/p/{petId}/o/{ownerId}/$x"},
}
API = {"use": ["moved"], "operations": {"showPet": {"use": ["animal"]}, "ownerPet": {"use": ["swap"]}}}


def test_named_capture_regex_is_the_route_regex() -> None:
    t = PathTemplate("/v1/owners/{ownerId}/pets/{petId}.json")
    assert t.regex(named_captures=True) == r"^/v1/owners/(?P<apigen_p1>[^/]+)/pets/(?P<apigen_p2>[^/]+)\.json$"
    # Same language as the plain regex: only the captures differ.
    m = re.match(t.regex(named_captures=True), "/v1/owners/a/pets/b.json")
    assert m is not None and m.groupdict() == {"apigen_p1": "a", "apigen_p2": "b"}
    assert re.sub(r"\(\?P<apigen_p\d>([^)]*)\)", r"\1", t.regex(named_captures=True)) == t.regex()


def test_template_with_unknown_parameter_is_an_error(tmp_path: Path) -> None:
    policies = {"bad": {"kind": "rewrite", "template": "/x/{id}"}}
    errors = compile_errors(
        tmp_path,
        policy_for(
            8080, {"main": ["127.0.0.1:9"]}, policies=policies, api={"operations": {"showPet": {"use": ["bad"]}}}
        ),
    )
    assert len(errors) == 1
    assert "rewrite template uses {id}, which GET /pets/{petId} (showPet) does not have" in errors[0]


@pytest.mark.live
@requires_nginx
def test_rewrites_reach_the_upstream(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    bundle = build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=POLICIES, api=API))
    text = (bundle / "api_conf.d/pets.conf").read_text()
    # The location ^~ /v1/pets/ matched the prefix: the regex skips its 9 bytes, captures the rest.
    assert '"~^(?s:.{9})(?P<apigen_p1>[^/]+)$" "/v1/pets/{}";' in (bundle / "api_maps.conf").read_text()
    assert 'rewrite ^ "/internal/animals/${apigen_p1}" break;' in text
    assert 'rewrite ^ "/p/${apigen_p2}/o/${apigen_p1}/${apigen_dollar}x" break;' in text
    nginx = nginx_runner(bundle, port)

    def upstream_uri(method: str, path: str) -> str:
        r = request(method, f"{nginx.url}{path}")
        assert r.status == 200, r.text
        return r.json()["uri"]

    # Prefix replaced (API level), query kept.
    assert upstream_uri("GET", "/v1/pets?limit=2&q=a%20b") == "/api/v2/animals?limit=2&q=a%20b"
    assert upstream_uri("DELETE", "/v1/pets/42") == "/api/v2/animals/42"
    # Template from path parameters (operation level replaces the API's rewrite).
    assert upstream_uri("GET", "/v1/pets/42?x=1") == "/internal/animals/42?x=1"
    assert upstream_uri("GET", "/v1/owners/7/pets/42") == "/p/42/o/7/$x"
    # Encoded characters stay encoded: a %3F in a parameter never becomes a query string.
    assert upstream_uri("GET", "/v1/pets/a%20b%3Fc?y=2") == "/internal/animals/a%20b%3Fc?y=2"
    # nginx routes on the decoded URI, where %2F is a path separator, while the upstream would get
    # it encoded: the gateway refuses such a path (400) rather than route a different one.
    assert request("DELETE", f"{nginx.url}/v1/pets/a%2Fb").status == 400


@pytest.mark.live
@requires_nginx
def test_a_question_mark_in_a_literal_segment_stays_in_the_path(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """Found by a hunt: the spec path /a%3Fb/{id} made `rewrite ^ "/internal/a?b/..."`, whose `?`
    started the arguments (the upstream got /internal/a?b/42&orig=1)."""
    from tests.support.compose import build as compose_build

    backend = echo_backend("q")
    port = free_port()
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "q", "version": "1"},
        "paths": {"/a%3Fb/{id}": {"get": {"operationId": "get", "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}], "responses": {"200": {"description": "ok"}}}}},
    }
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}"},
        "upstreams": {"u": {"servers": [{"address": backend.address}]}},
        "policies": {"moved": {"kind": "rewrite", "replace_prefix": {"from": "/", "to": "/internal/"}}},
        "apis": [{"name": "q", "spec": "q.json", "upstream": "u", "use": ["moved"]}],
    }
    nginx = nginx_runner(compose_build(tmp_path, policy, {"q.json": spec}), port)
    r = request("GET", f"{nginx.url}/a%3Fb/42?orig=1")
    assert r.status == 200, r.text
    assert r.json()["uri"] == "/internal/a%3Fb/42?orig=1"


def test_a_prefix_matching_no_operation_is_warned(tmp_path: Path) -> None:
    import json

    from apigen.pipeline import compile_policy
    from tests.support.traffic_build import PETS_SPEC

    policies = {"moved": {"kind": "rewrite", "replace_prefix": {"from": "/pets", "to": "/animals"}}}
    (tmp_path / "pets.json").write_text(json.dumps(PETS_SPEC))
    (tmp_path / "policy.json").write_text(json.dumps(policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api={"use": ["moved"]})))
    warnings = [d for d in compile_policy(tmp_path / "policy.json").diagnostics.items if "replace_prefix" in d.message]
    assert len(warnings) == 1 and "matches none of the 5 operation(s)" in warnings[0].message
    assert warnings[0].hint == "paths as the gateway sees them include the base path, e.g. /v1/pets"


@pytest.mark.live
@requires_nginx
def test_a_semicolon_in_a_rewritten_parameter_is_refused(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """Found by a hunt: nginx re-escapes a rewritten path without ";", so /v1/users/me%3Bx (the
    public getUser for the gateway) reached the upstream as /internal/users/me;x, which servlet
    containers read as /internal/users/me, the path of the protected getMe. A raw ";" was refused
    already; a parameter a rewrite sends upstream decoded now may not hold one either."""
    from apigen.explain import resolve
    from apigen.pipeline import compile_policy
    from tests.support.compose import build as compose_build
    from tests.support.compose import openapi

    backend = echo_backend("semi")
    port = free_port()
    spec = openapi(
        {
            "/users/me": {"get": "getMe"},
            "/users/{id}": {"get": "getUser", "delete": "deleteUser"},
            "/owners/{ownerId}/pets/{petId}": {"get": "ownerPet"},
        }
    )
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}"},
        "upstreams": {"u": {"servers": [{"address": backend.address}]}},
        "policies": {
            "moved": {"kind": "rewrite", "replace_prefix": {"from": "/v1/users", "to": "/internal/users"}},
            "pet": {"kind": "rewrite", "template": "/pets/{petId}"},
        },
        "apis": [
            {
                "name": "u",
                "spec": "u.json",
                "base_path": "/v1",
                "upstream": "u",
                "operations": {"getMe": {"use": ["moved"]}, "getUser": {"use": ["moved"]}, "ownerPet": {"use": ["pet"]}},
            }
        ],
    }
    bundle = compose_build(tmp_path, policy, {"u.json": spec})
    nginx = nginx_runner(bundle, port)
    plan = compile_policy(tmp_path / "in" / "policy.yaml").plan
    assert plan is not None

    def answer(method: str, path: str) -> tuple[int, str]:
        r = request(method, f"{nginx.url}{path}")
        assert resolve(plan, method, f"http://api.example.com{path}").status == r.status, (method, path)
        return r.status, r.json()["uri"] if r.status == 200 else r.json()["error"]

    assert answer("GET", "/v1/users/me") == (200, "/internal/users/me")
    assert answer("GET", "/v1/users/a%20b") == (200, "/internal/users/a%20b")
    for path in ("/v1/users/me%3Bx", "/v1/users/me%3b", "/v1/users/%3B", "/v1/owners/1/pets/2%3Bx"):
        for method in ("GET", "HEAD"):
            r = request(method, f"{nginx.url}{path}")
            assert r.status == 400, (method, path, r.status, r.text)
            assert resolve(plan, method, f"http://api.example.com{path}").status == 400
        assert request("GET", f"{nginx.url}{path}").json()["error"] == "Bad Request"
    # Operations without a rewrite forward the raw path: their %3B stays %3B.
    assert answer("DELETE", "/v1/users/a%3Bb") == (200, "/v1/users/a%3Bb")
    # A parameter the rewrite does not send may hold one.
    assert answer("GET", "/v1/owners/a%3Bb/pets/2") == (200, "/pets/2")
