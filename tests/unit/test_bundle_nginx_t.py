"""Small inputs at the edges whose bundles must still pass a real `nginx -t`."""

from __future__ import annotations

from pathlib import Path

import pytest

from apigen.bundle import write_atomic
from apigen.verify import parse_bundle, run_nginx_t
from tests.support.compile import compile_case, openapi, ops, simple_policy
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
