"""Route table: concrete before templated, specificity order, groups, conflicts, warnings."""

from __future__ import annotations

import re
from pathlib import Path

from apigen.plan.routing import RouteTable
from tests.support.compile import compile_case, errors_of, openapi, ops, simple_policy


def table_of(tmp_path: Path, paths: dict, **api) -> tuple[RouteTable, list]:
    result = compile_case(tmp_path, simple_policy(**api), {"openapi.json": openapi(paths)})
    return result.plan.routes, result.diagnostics.warnings


def group(table: RouteTable, prefix: str) -> list[str]:
    return [r.template.text for g in table.groups if g.prefix == prefix for r in g.routes]


def first_match(table: RouteTable, url: str) -> str | None:
    """Which route nginx picks for ``url``: exact, else longest prefix group, first regex in it."""
    for r in table.exact:
        if r.template.text == url:
            return r.template.text
    prefixes = [g for g in table.groups if url.startswith(g.prefix)]
    best = max(prefixes, key=lambda g: len(g.prefix))
    for r in best.routes:
        if re.match(r.template.regex(), url):
            return r.template.text
    return None


def test_concrete_paths_are_exact_and_win_over_templates(tmp_path: Path) -> None:
    table, warnings = table_of(
        tmp_path,
        {"/pets/{petId}": ops("get", op_prefix="byid_"), "/pets/mine": ops("get", op_prefix="mine_")},
        base_path="/v1",
    )
    assert [r.template.text for r in table.exact] == ["/v1/pets/mine"]
    assert first_match(table, "/v1/pets/mine") == "/v1/pets/mine"
    assert first_match(table, "/v1/pets/7") == "/v1/pets/{petId}"
    assert warnings == []


def test_first_differing_segment_literal_before_parameter(tmp_path: Path) -> None:
    paths = {
        "/a/{x}/c": ops("get", op_prefix="p1_"),
        "/a/b/{y}": ops("get", op_prefix="p2_"),
        "/a/{x}/{y}": ops("get", op_prefix="p3_"),
        "/a/{x}/c.json": ops("get", op_prefix="p4_"),
    }
    table, _ = table_of(tmp_path, paths)
    # /a/b/{y} lives in group /a/b/ only (no URL outside /a/b/ matches it); that group also holds
    # every /a/ route a URL under /a/b/ can match, in specificity order.
    assert group(table, "/a/") == ["/a/{x}/c", "/a/{x}/c.json", "/a/{x}/{y}"]
    assert group(table, "/a/b/") == ["/a/b/{y}", "/a/{x}/c", "/a/{x}/c.json", "/a/{x}/{y}"]
    assert first_match(table, "/a/b/c") == "/a/b/{y}"
    assert first_match(table, "/a/z/c") == "/a/{x}/c"
    assert first_match(table, "/a/z/c.json") == "/a/{x}/c.json"
    assert first_match(table, "/a/z/q") == "/a/{x}/{y}"


def test_mixed_segments_rank_between_literal_and_parameter(tmp_path: Path) -> None:
    paths = {
        "/files/{name}.{ext}": ops("get", op_prefix="any_"),
        "/files/{id}.json": ops("get", op_prefix="json_"),
        "/files/{id}": ops("get", op_prefix="plain_"),
        "/files/index.json": ops("get", op_prefix="index_"),
    }
    table, warnings = table_of(tmp_path, paths)
    assert group(table, "/files/") == ["/files/{id}.json", "/files/{name}.{ext}", "/files/{id}"]
    assert first_match(table, "/files/index.json") == "/files/index.json"
    assert first_match(table, "/files/7.json") == "/files/{id}.json"
    assert first_match(table, "/files/7.yaml") == "/files/{name}.{ext}"
    assert first_match(table, "/files/7") == "/files/{id}"
    # {id}.json and {name}.{ext} overlap (7.json) and no literal-vs-parameter rule decides it.
    assert [w.code for w in warnings] == ["ambiguous-route"]
    assert "/files/{id}.json" in warnings[0].message and "/files/{name}.{ext}" in warnings[0].message


def test_ambiguous_mixed_segments_with_different_literals_warn(tmp_path: Path) -> None:
    _, warnings = table_of(
        tmp_path, {"/d/{a}.json": ops("get", op_prefix="a_"), "/d/x.{b}": ops("get", op_prefix="b_")}
    )
    assert len(warnings) == 1 and warnings[0].code == "ambiguous-route"
    assert len(warnings[0].related) == 1  # both locations are reported
    assert "such as /d/x.json matches both" in warnings[0].message


def test_disjoint_templates_do_not_warn(tmp_path: Path) -> None:
    _, warnings = table_of(
        tmp_path,
        {
            "/d/{a}.json": ops("get", op_prefix="a_"),
            "/d/{a}.yaml": ops("get", op_prefix="b_"),
            "/d/{a}/x": ops("get", op_prefix="c_"),
            "/d/{a}/y": ops("get", op_prefix="d_"),
            "/e/{a}": ops("get", op_prefix="e_"),
            "/e/{a}/{b}": ops("get", op_prefix="f_"),
        },
    )
    assert warnings == []


def test_groups_hold_every_route_that_can_match_under_their_prefix(tmp_path: Path) -> None:
    paths = {
        "/{tenant}/pets/{id}": ops("get", op_prefix="t_"),
        "/shop/pets/{id}": ops("get", op_prefix="s_"),
        "/shop/{x}": ops("get", op_prefix="x_"),
    }
    table, _ = table_of(tmp_path, paths)
    assert group(table, "/") == ["/{tenant}/pets/{id}"]
    assert group(table, "/shop/") == ["/shop/{x}", "/{tenant}/pets/{id}"]
    # nginx selects /shop/pets/ for /shop/pets/1; the tenant route must be there too.
    assert group(table, "/shop/pets/") == ["/shop/pets/{id}", "/{tenant}/pets/{id}"]
    assert first_match(table, "/shop/pets/1") == "/shop/pets/{id}"
    assert first_match(table, "/acme/pets/1") == "/{tenant}/pets/{id}"
    assert first_match(table, "/shop/anything") == "/shop/{x}"


def test_head_follows_get_and_allow_lists_declared_methods(tmp_path: Path) -> None:
    table, _ = table_of(tmp_path, {"/pets": ops("post", "get", "delete")})
    (route,) = table.routes
    assert route.allow == "GET, HEAD, POST, DELETE"
    assert dict(route.operations)["HEAD"] is dict(route.operations)["GET"]


def test_fragment_aliases_are_warnings_and_first_operation_wins(tmp_path: Path) -> None:
    paths = {
        "/token": {"post": {"operationId": "token", "responses": {"200": {"description": "ok"}}}},
        "/token#refresh": {"post": {"operationId": "refresh", "responses": {"200": {"description": "ok"}}}},
    }
    table, warnings = table_of(tmp_path, paths)
    (route,) = table.routes
    assert dict(route.operations)["POST"].operation_id == "token"
    assert [w.code for w in warnings] == ["route-alias"]
    assert "refresh" in warnings[0].message
    assert warnings[0].position is not None and warnings[0].position.line > 1


def test_two_apis_claiming_the_same_route_is_an_error(tmp_path: Path) -> None:
    spec = openapi({"/pets/{id}": ops("get")})
    policy = {
        "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9001"}]}},
        "apis": [
            {"name": "one", "spec": "a.json", "upstream": "u", "base_path": "/v1"},
            {"name": "two", "spec": "b.json", "upstream": "u", "base_path": "/v1"},
        ],
    }
    (err,) = errors_of(tmp_path, policy, {"a.json": spec, "b.json": openapi({"/pets/{petId}": ops("put")})})
    assert "'one' and 'two' both claim PUT /v1/pets/{petId}" in err.message
    assert err.position is not None and err.position.file == "b.json" and err.position.line > 1
    assert err.related and err.related[0].file == "a.json"


def test_apis_at_different_base_paths_share_nothing(tmp_path: Path) -> None:
    spec = openapi({"/pets/{id}": ops("get"), "/pets": ops("get", op_prefix="list_")})
    policy = {
        "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9001"}]}},
        "apis": [
            {"name": "one", "spec": "a.json", "upstream": "u", "base_path": "/v1"},
            {"name": "two", "spec": "a.json", "upstream": "u", "base_path": "/v2"},
        ],
    }
    table = compile_case(tmp_path, policy, {"a.json": spec}).plan.routes
    assert {g.prefix: g.api for g in table.groups} == {"/": None, "/v1/": "one", "/v1/pets/": "one", "/v2/": "two", "/v2/pets/": "two"}
    assert first_match(table, "/v2/pets/1") == "/v2/pets/{id}"


def test_reserved_internal_prefix_is_an_error(tmp_path: Path) -> None:
    (err,) = errors_of(tmp_path, simple_policy(), {"openapi.json": openapi({"/_apigen/op/x": ops("get")})})
    assert "reserved" in err.message


def test_route_order_is_independent_of_spec_order(tmp_path: Path) -> None:
    paths = {
        "/a/{x}": ops("get", op_prefix="a_"),
        "/a/b": ops("get", op_prefix="b_"),
        "/a/{x}.json": ops("get", op_prefix="c_"),
        "/{y}/b": ops("get", op_prefix="d_"),
    }
    t1, _ = table_of(tmp_path / "1", paths)
    t2, _ = table_of(tmp_path / "2", dict(reversed(paths.items())))
    assert [(g.prefix, [r.route_id for r in g.routes]) for g in t1.groups] == [
        (g.prefix, [r.route_id for r in g.routes]) for g in t2.groups
    ]


def test_route_ids_are_unique_ignoring_case(tmp_path: Path) -> None:
    # nginx `map` compares strings case-insensitively: /Pets and /pets need different keys.
    table, _ = table_of(tmp_path, {"/Pets": ops("get", op_prefix="a_"), "/pets": ops("get", op_prefix="b_")})
    ids = [r.route_id for r in table.routes]
    assert ids == ["/Pets", "/pets [2]"]
    assert [r.template.text for r in table.exact] == ["/Pets", "/pets"]


def test_percent_encoded_spec_paths_match_the_decoded_uri(tmp_path: Path) -> None:
    table, _ = table_of(tmp_path, {"/caf%C3%A9/{x}": ops("get"), "/a%20b": ops("put")})
    assert sorted(r.template.text for r in table.routes) == ["/a b", "/café/{x}"]


def test_trace_operations_are_unreachable_warnings(tmp_path: Path) -> None:
    table, warnings = table_of(tmp_path, {"/debug": ops("get", "trace")})
    (route,) = table.routes
    assert route.allow == "GET, HEAD"
    assert [w.code for w in warnings] == ["unreachable-method"]
