"""Small inputs at the edges whose bundles must still pass a real `nginx -t`."""

from __future__ import annotations

from pathlib import Path

import pytest

from apigen.bundle import write_atomic
from apigen.verify import parse_bundle, run_nginx_t
from tests.support.compile import compile_case, errors_of, openapi, ops, simple_policy
from tests.support.corpus import corpus_file
from tests.support.nginx import nginx_binary, requires_nginx

CASES = {
    "no-paths": openapi({}),
    "only-webhooks-3.1": {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "webhooks": {}},
    "case-only-difference": openapi({"/Pets": ops("get", op_prefix="a_"), "/pets": ops("get", op_prefix="b_")}),
    "root-template": openapi({"/{id}": ops("get", "delete"), "/": ops("get", op_prefix="root_")}),
    "quotes-and-braces": openapi({'/a"b/{x}': ops("get", op_prefix="q_"), "/c;d{e}f": ops("put")}),
}


@requires_nginx
@pytest.mark.parametrize("case", sorted(CASES))
def test_edge_bundle_passes_nginx_t(tmp_path: Path, case: str) -> None:
    result = compile_case(tmp_path / "in", simple_policy(), {"openapi.json": CASES[case]}, render=True)
    assert result.bundle is not None
    write_atomic(result.bundle, tmp_path / "out")
    assert parse_bundle(tmp_path / "out").ok
    check = run_nginx_t(tmp_path / "out", nginx=nginx_binary() or "nginx")
    assert check.ok, check.output


OAI_EXAMPLES = [
    "v2.0-petstore-expanded.yaml", "v2.0-uber.json", "v3.0-api-with-examples.yaml", "v3.0-callback-example.yaml",
    "v3.0-link-example.yaml", "v3.0-petstore-expanded.yaml", "v3.0-petstore.yaml", "v3.0-uspto.yaml",
    "v3.1-tictactoe.yaml", "v3.1-webhook-example.yaml",
]  # fmt: skip


@requires_nginx
@pytest.mark.parametrize("name", OAI_EXAMPLES)
def test_oai_example_bundle_passes_nginx_t(tmp_path: Path, name: str) -> None:
    spec = corpus_file(f"oai-examples/{name}")
    result = compile_case(tmp_path / "in", simple_policy(str(spec)), render=True)
    assert result.bundle is not None
    write_atomic(result.bundle, tmp_path / "out")
    check = run_nginx_t(tmp_path / "out", nginx=nginx_binary() or "nginx")
    assert check.ok, check.output


@requires_nginx
def test_many_route_maps_pass_nginx_t_without_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each route map is an nginx variable: past ~100 of them nginx's default variables hash
    warns ("could not build optimal variables_hash"); the bundle sizes it instead."""
    import sys

    from apigen.plan import routing

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from gen_spec import generate

    monkeypatch.setattr(routing, "NEST_ABOVE", 8)  # split lists of 9 routes: many maps

    result = compile_case(tmp_path / "in", simple_policy(), {"openapi.json": generate(1300)}, render=True)
    assert result.bundle is not None and len(result.plan.route_maps) > 150
    write_atomic(result.bundle, tmp_path / "out")
    check = run_nginx_t(tmp_path / "out", nginx=nginx_binary() or "nginx")
    assert check.ok, check.output
    assert "[warn]" not in check.output, check.output


@requires_nginx
def test_sizes_in_gigabytes_pass_nginx_t(tmp_path: Path) -> None:
    """Found by a hunt: `zone_size: 1g` and `max_part_size: 1g` reached directives nginx parses
    with ngx_parse_size (k and m only) and failed `nginx -t`; they are written in m now, while
    offsets (body limits, cache max_size) keep g."""
    spec = openapi({"/a": ops("get", op_prefix="a_"), "/b": ops("get", op_prefix="b_")})
    policy = simple_policy(use=["c", "b"], operations={"a_get": {"use": ["agg"]}})
    policy["policies"] = {
        "c": {"kind": "cache", "zone_size": "1g", "max_size": "2G"},
        "b": {"kind": "body_limit", "max": "1g"},
        "agg": {"kind": "aggregate", "max_part_size": "1G", "parts": [{"name": "b", "upstream": "u", "path": "/b"}]},
    }
    result = compile_case(tmp_path / "in", policy, {"openapi.json": spec}, render=True)
    assert result.bundle is not None
    write_atomic(result.bundle, tmp_path / "out")
    text = "\n".join(p.read_text() for p in (tmp_path / "out").rglob("*.conf"))
    assert "keys_zone=apigen_cache_c:1024m max_size=2G" in text and "subrequest_output_buffer_size 1024m;" in text
    check = run_nginx_t(tmp_path / "out", nginx=nginx_binary() or "nginx")
    assert check.ok, check.output


@requires_nginx
def test_largest_accepted_integers_pass_nginx_t(tmp_path: Path) -> None:
    """Found by a hunt: max_fails, max_conns and sizes in bytes had no maximum, and nginx refuses
    numbers past 2^63-1 ("invalid parameter max_fails=100000000000000000000"); the schema stops
    there now (tests/bad_inputs/integer-above-nginx-max), and the largest value still passes."""
    top = 2**63 - 1
    policy = simple_policy(use=["b"])
    policy["gateway"] = {"client_max_body_size": top}
    policy["upstreams"]["u"] = {
        "servers": [{"address": "127.0.0.1:9001", "max_fails": top, "max_conns": top}],
        "passive_health": {"max_fails": top},
    }
    policy["policies"] = {"b": {"kind": "body_limit", "max": top}}
    result = compile_case(tmp_path / "in", policy, {"openapi.json": openapi({"/a": ops("get")})}, render=True)
    assert result.bundle is not None
    write_atomic(result.bundle, tmp_path / "out")
    check = run_nginx_t(tmp_path / "out", nginx=nginx_binary() or "nginx")
    assert check.ok, check.output
    policy["upstreams"]["u"]["passive_health"]["max_fails"] = top + 1
    (err,) = errors_of(tmp_path / "in2", policy, {"openapi.json": openapi({"/a": ops("get")})})
    assert err.message == "upstreams/u/passive_health/max_fails: 9223372036854775808 is greater than the maximum of 9223372036854775807"
