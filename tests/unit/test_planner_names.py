"""Names the planner makes up must stay unique: strip variables, internal locations."""

from __future__ import annotations

from pathlib import Path

from apigen.plan.paths import raw_path_regex
from tests.support.compile import compile_case, openapi, ops


def test_strip_variables_are_unique_per_api(tmp_path: Path) -> None:
    spec = openapi({"/pets": ops("get")})
    policy = {
        "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9001"}]}},
        "apis": [
            {"name": "a-b", "spec": "s.json", "upstream": "u", "base_path": "/one", "strip_base_path": True},
            {"name": "a_b", "spec": "s.json", "upstream": "u", "base_path": "/two", "strip_base_path": True},
        ],
    }
    plan = compile_case(tmp_path, policy, {"s.json": spec}).plan
    strip = {a.name: a.strip_map for a in plan.apis}
    assert strip["a-b"] == ("~^" + raw_path_regex("/one") + "(/.*)$", "apigen_strip_a_b")
    assert strip["a_b"] == ("~^" + raw_path_regex("/two") + "(/.*)$", "apigen_strip_a_b_2")
    assert {a.name: {o.upstream_uri for o in a.operations} for a in plan.apis} == {
        "a-b": {"apigen_strip_a_b"},
        "a_b": {"apigen_strip_a_b_2"},
    }


def test_internal_locations_are_unique(tmp_path: Path) -> None:
    spec = openapi(
        {
            "/a": {"get": {"operationId": "get/pets", "responses": {"200": {"description": "ok"}}}},
            "/b": {"get": {"operationId": "get_pets", "responses": {"200": {"description": "ok"}}}},
        }
    )
    # Different settings: each keeps its own location (identical ones would share one).
    ops_ = {"get/pets": {"timeouts": {"read": "5s"}}}
    policy = {
        "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9001"}]}},
        "apis": [{"name": "x", "spec": "s.json", "upstream": "u", "operations": ops_}],
    }
    plan = compile_case(tmp_path, policy, {"s.json": spec}).plan
    uris = sorted(o.internal_uri for o in plan.apis[0].operations)
    assert uris == ["@apigen_op/x/get_pets", "@apigen_op/x/get_pets_2"]


def test_names_that_key_maps_are_unique_ignoring_case(tmp_path) -> None:
    """Found by a review: APIs `Pets` and `pets` built, and nginx refused the bundle (map keys are
    compared ignoring case); a non-ASCII operationId with CORS crashed the build."""
    import pytest

    from apigen.diagnostics import CompileError

    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"operationId": "ñ", "responses": {"200": {"description": "ok"}}}}}}
    base = {"gateway": {"listen": 8080}, "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9"}]}}}
    policy = {**base, "apis": [{"name": "Pets", "spec": "s.json", "upstream": "u"}, {"name": "pets", "spec": "s.json", "upstream": "u", "base_path": "/x"}]}
    with pytest.raises(CompileError) as exc:
        compile_case(tmp_path / "a", policy, {"s.json": spec})
    assert [e.message for e in exc.value.diagnostics.errors] == ["duplicate API name 'pets' (as 'Pets', ignoring case)"]
    cors = {**base, "policies": {"web": {"kind": "cors", "origins": ["https://a.example"]}}, "apis": [{"name": "p", "spec": "s.json", "upstream": "u", "use": ["web"]}]}
    assert compile_case(tmp_path / "b", cors, {"s.json": spec}, render=True).bundle is not None
