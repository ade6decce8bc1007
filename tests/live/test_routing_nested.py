"""Live: with route maps split by hashed URL segments (apigen.plan.routing.nest_routes), a real
nginx routes every URL (also in other letter cases, which nginx's hash keys ignore) to the
operation that trying the group's whole route list in order would pick, and unknown paths under
a split prefix still get the JSON 404, wrong methods the JSON 405."""

from __future__ import annotations

import http.client
import json
import re
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from apigen.plan import routing
from apigen.plan.routing import path_is_ambiguous
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.unit.test_routing_nesting import CORPUS, SIBLING_PATHS, SMALL_SPLIT, TRICKY_PATHS, _spec, _urls, flat_pick

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from gen_spec import generate  # noqa: E402

URL_SAFE = "/:@!$&'()*+,;=-._~"


def _build(tmp_path: Path, port: int, backend: str, specs: dict[str, Path]):
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "operation_header": "X-Apigen-Operation", "worker_processes": 1},
        "upstreams": {"be": {"servers": [{"address": backend}], "keepalive": 8}},
        "apis": [{"name": n, "spec": str(p), "upstream": "be"} for n, p in specs.items()],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    result = compile_policy(tmp_path / "policy.json")
    write_atomic(result.bundle, tmp_path / "bundle")
    return tmp_path / "bundle", result.plan


def _expected(plan, url: str, method: str) -> tuple[int, str | None]:
    raw = url
    url = re.sub("/+", "/", url)  # nginx merges slashes before matching locations (merge_slashes)
    exact = {r.template.text: r for r in plan.routes.exact}
    route = exact.get(url)
    dispatched = route is not None
    if route is None:
        group = max((g for g in plan.routes.groups if url.startswith(g.prefix)), key=lambda g: len(g.prefix))
        route = flat_pick(group, url)
        dispatched = bool(group.routes)  # its route map answers through the dispatch map, found or not
    if dispatched and path_is_ambiguous(quote(raw, safe=URL_SAFE)):
        return 400, None  # an empty segment (say): the raw path is not the one routed
    if route is None:
        return 404, None
    ops = dict(route.operations)
    if method not in ops:
        return 405, None
    return 200, f"{ops[method].api}.{ops[method].operation_id}"


def _check_all(plan, port: int, max_urls: int, nested_only: bool = True) -> int:
    cases = []
    for group in plan.routes.groups:
        if group.nodes or not nested_only:
            cases += sorted(_urls(group))
    cases = cases[:: max(1, len(cases) // max_urls)]
    assert cases, "no group to test"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    checked = 0
    for url in cases:
        for method in ("GET", "DELETE"):
            want_status, want_op = _expected(plan, url, method)
            conn.request(method, quote(url, safe=URL_SAFE))
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == want_status, (method, url, body[:200])
            if want_op:
                assert json.loads(body)["headers"]["x-apigen-operation"] == want_op, (method, url)
            else:
                assert json.loads(body)["status"] == want_status  # the gateway's JSON error
            checked += 1
    conn.close()
    return checked


@pytest.mark.live
@requires_nginx
def test_nested_locations_route_like_the_flat_list(tmp_path: Path, echo_backend, nginx_runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "NEST_ABOVE", SMALL_SPLIT)  # split these groups' short lists too
    backend = echo_backend("be")
    port = free_port()
    (tmp_path / "tricky.json").write_text(json.dumps(_spec(TRICKY_PATHS)))
    (tmp_path / "synthetic.json").write_text(json.dumps(generate(600)))
    bundle, plan = _build(tmp_path, port, backend.address, {"t": tmp_path / "tricky.json", "s": tmp_path / "synthetic.json"})
    nginx_runner(bundle, port)
    assert _check_all(plan, port, max_urls=700) > 500


@pytest.mark.live
@requires_nginx
@pytest.mark.skipif(CORPUS is None, reason="corpus not found (tests/corpus is vendored)")
def test_nested_locations_route_the_corpus(tmp_path: Path, echo_backend, nginx_runner) -> None:
    assert CORPUS is not None
    backend = echo_backend("be")
    port = free_port()
    specs = {"twilio": CORPUS / "twilio_api_v2010.yaml", "box": CORPUS / "box-openapi.json", "discord": CORPUS / "discord-openapi-3.1.json"}
    bundle, plan = _build(tmp_path, port, backend.address, specs)
    nginx_runner(bundle, port)
    assert _check_all(plan, port, max_urls=700) > 500


@pytest.mark.live
@requires_nginx
def test_merged_sibling_routes_name_each_route(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """Siblings sharing one regex (a literal segment as an alternation, the id rebuilt from $1):
    each URL reaches its own operation, with escaped and non-ASCII literals and dollars."""
    backend = echo_backend("be")
    port = free_port()
    (tmp_path / "siblings.json").write_text(json.dumps(_spec(SIBLING_PATHS)))
    bundle, plan = _build(tmp_path, port, backend.address, {"t": tmp_path / "siblings.json"})
    assert '$1";' in (bundle / "api_maps.conf").read_text()
    nginx_runner(bundle, port)
    assert _check_all(plan, port, max_urls=1000, nested_only=False) > 300
