"""Operations whose internal locations would render identically share one; the others keep theirs."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.compile import UPSTREAM, compile_case, openapi, ops

SPEC = openapi({"/pets": ops("get", "post"), "/pets/{id}": ops("get", "delete", op_prefix="one_")})


def _policy(**api: object) -> dict[str, object]:
    return {
        "upstreams": {"u": UPSTREAM, "v": {"servers": [{"address": "127.0.0.1:9002"}]}},
        "apis": [{"name": "x", "spec": "s.json", "upstream": "u", **api}],
    }


def _uris(tmp_path: Path, **api: object) -> dict[str, str]:
    plan = compile_case(tmp_path, _policy(**api), {"s.json": SPEC}).plan
    return {o.operation_id: o.internal_uri for o in plan.apis[0].operations}


def test_identical_operations_share_the_location_of_the_first_by_path_and_method(tmp_path: Path) -> None:
    assert set(_uris(tmp_path / "a").values()) == {"@apigen_op/x/get"}
    # Not the first by name: "a_get" sorts first, but its path last.
    one_more = openapi({**SPEC["paths"], "/zebras": ops("get", op_prefix="a_")})
    plan = compile_case(tmp_path / "b", _policy(), {"s.json": one_more}).plan
    assert {o.internal_uri for o in plan.apis[0].operations} == {"@apigen_op/x/get"}
    # Not the first in document order: /cats comes last but sorts first (a reordered spec
    # renamed shared locations, and `apigen diff` said operations were added and removed).
    cats_last = openapi({**SPEC["paths"], "/cats": ops("get", op_prefix="cat_")})
    plan = compile_case(tmp_path / "c", _policy(), {"s.json": cats_last}).plan
    assert {o.internal_uri for o in plan.apis[0].operations} == {"@apigen_op/x/cat_get"}


def test_a_different_setting_gets_its_own_location(tmp_path: Path) -> None:
    uris = _uris(
        tmp_path,
        operations={"post": {"timeouts": {"read": "60s"}}, "one_delete": {"upstream": "v"}},
    )
    assert uris["get"] == uris["one_get"] == "@apigen_op/x/get"
    assert uris["post"] == "@apigen_op/x/post"
    assert uris["one_delete"] == "@apigen_op/x/one_delete"


def test_operation_names_come_from_maps_on_route_and_method(tmp_path: Path) -> None:
    compiled = compile_case(tmp_path, _policy(), {"s.json": SPEC}, render=True)
    assert compiled.bundle is not None
    maps = compiled.bundle.files["api_maps.conf"]
    block = maps.split('map "$apigen_route $request_method" $apigen_operation {')[1].split("\n}")[0]
    assert '"/pets GET" "get";' in block
    assert '"/pets/{} DELETE" "one_delete";' in block
    assert '"/pets/{} HEAD" "one_get";' in block
    api_conf = compiled.bundle.files["api_conf.d/x.conf"]
    assert "set $apigen_operation" not in api_conf
    # One location, its comment naming every operation it serves.
    assert api_conf.count('location "@apigen_op/') == 1
    assert len(re.findall(r"# (GET|POST|DELETE) /pets\S* \(x\.\w+\)", api_conf)) == 4


def _location_bodies(text: str) -> list[str]:
    return re.findall(r'location "@apigen_op/[^"]*" \{\n(.*?)\n    \}', text, re.S)


def test_no_two_operation_locations_render_alike(tmp_path: Path) -> None:
    """Sharing is complete: whatever still renders twice would have been one location."""
    policy = _policy(operations={"post": {"timeouts": {"read": "60s"}}})
    compiled = compile_case(tmp_path, policy, {"s.json": SPEC}, render=True)
    assert compiled.bundle is not None
    bodies = _location_bodies(compiled.bundle.files["api_conf.d/x.conf"])
    assert len(bodies) == 2
    assert len(set(bodies)) == len(bodies)
