"""The segment trie of a route group (apigen.plan.routing.nest_routes) picks the same route as
trying the group's whole list in order, for every URL: simulated here with nginx's rules (the
split regex's captures; a hash map compares keys ignoring ASCII case; a hit continues in the
node's map and never falls back; a miss tries the regexes of the flat list in order). The live
counterpart is tests/live/test_routing_nested.py."""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path

import pytest

from apigen.pipeline import compile_policy
from apigen.plan import routing
from apigen.plan.routing import (
    NEST_ABOVE,
    NOT_FOUND_ROUTE,
    ROUTES_PER_NEST_STEP,
    CapturedRoute,
    Route,
    RouteGroup,
    SegmentNode,
    ascii_lower,
    nest_routes,
    nest_threshold,
    prefix_skipping_regex,
    segment_regex,
    split_segments,
)
from apigen.render.quoting import MAX_TOKEN_BYTES, token_bytes

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from gen_spec import generate  # noqa: E402

from tests.support.corpus import corpus_dir  # noqa: E402

CORPUS = corpus_dir()

TRICKY_PATHS = [
    "/a/{x}/b/{y}", "/a/{x}/b/c", "/a/{x}/b/", "/a/{x}.json", "/a/{x}/{y}/d", "/a/b/b/{z}", "/a/{x}/b/{y}/e",
    "/a/{x}/c/{y}", "/a/{x}/c/{y}/f", "/a/{x}/{y}", "/a/b/{x}/c/{y}", "/a/{x}/b.json/{y}", "/a/{x}/x{y}/{z}",
    "/a/{x}/c/d/{y}", "/a/{x}/c/{y}.json", "/a/{x}/{y}/{z}/g", "/a/{x}/{y}/h/{z}", "/a/{x}/{y}/h/i",
    "/a/{x}/b/{y}/{z}", "/a/{x}//{y}", "/a/{x}/b/{y}/b/{z}", "/a/c/{x}/b/{y}", "/a/{x}/e/{y}", "/a/{x}/e/{y}/f", "/a//b/{y}",
    # Hash keys: literals equal ignoring case (nginx's map keys fold ASCII case), non-ASCII (not
    # folded), map keywords, characters that need quoting or mean something to nginx or PCRE.
    "/w/{x}/Calls", "/w/{x}/calls", "/w/{x}/CALLS/{y}", "/w/{x}/calls/{y}", "/w/{x}/ca lls", '/w/{x}/qu"ote',
    "/w/{x}/default", "/w/{x}/~tilde", "/w/{x}/\u00e9t\u00e9", "/w/{x}/\u00c9T\u00c9", "/w/{x}/{y}.JSON", "/w/{x}/hostnames/{y}",
    "/w/{x}/back\\slash", "/w/{x}/dollar$x", "/w/{x}/semi;colon", "/w/{x}/brace{{}}", "/w/{x}/dot.json",
    # A non-ASCII prefix: the regexes skip it as a byte count (PCRE without UTF), not characters.
    "/\u00e9t\u00e9/{x}", "/\u00e9t\u00e9/{x}/b", "/\u00e9t\u00e9/n/{x}",
]

# Siblings that differ in one literal segment share a regex (routing.merge_siblings): literals
# that need escaping in PCRE or quoting in nginx, a dollar (the map value is evaluated: only $1
# may be a reference), non-ASCII, case variants (one gets a " [2]" id: not merged), a merge in
# the middle of the path, and a sibling run broken by a route with a parameter there.
SIBLING_PATHS = [
    "/m/{x}/dollar$x", '/m/{x}/qu"ote', "/m/{x}/back\\slash", "/m/{x}/\u00e9t\u00e9", "/m/{x}/ca lls",
    "/m/{x}/x.json", "/m/{x}/(paren)|bar", "/m/{x}/100%",
    "/n/{x}/Calls/{y}", "/n/{x}/calls/{y}", "/n/{x}/a$1/{y}", "/n/{x}/b/{y}", "/n/{x}/{y}/{z}", "/n/{x}/c/{y}/d",
    "/d$1/{x}/a", "/d$1/{x}/b",
]


def _spec(paths: list[str]) -> dict:
    ops = {}
    for i, p in enumerate(paths):
        ops[p] = {"get": {"operationId": f"op{i}", "responses": {"200": {"description": "ok"}}}}
        params = re.findall(r"\{(\w+)\}", p)
        if params:
            ops[p]["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in params]
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": ops}


def _plan(tmp_path: Path, specs: dict[str, Path]):
    policy = {
        "gateway": {"listen": "127.0.0.1:8080"},
        "upstreams": {"be": {"servers": [{"address": "127.0.0.1:9"}]}},
        "apis": [{"name": n, "spec": str(p), "upstream": "be"} for n, p in specs.items()],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    return compile_policy(tmp_path / "policy.json", render=False).plan


def segment_value(url: str, n: int, segments: tuple[int, ...]) -> str:
    """$apigen_s<n> as nginx computes it: the segment map's capture, "" when its regex fails."""
    assert n in segments, f"segment {n} is looked up but has no map"
    m = re.match(segment_regex(n), url)
    return m.group(1) if m else ""


def nginx_pick(group: RouteGroup, url: str, segments: tuple[int, ...]) -> Route | None:
    def walk(nodes: tuple[SegmentNode, ...], flat: tuple[Route, ...], segment: int) -> Route | None:
        if nodes:
            looked_up = ascii_lower(segment_value(url, segment, segments))
            for node in nodes:
                if node.key == looked_up:
                    return walk(node.nodes, node.flat, node.segment)  # no fallback to the list
        return next((r for r in flat if r.template.compiled.match(url)), None)

    return walk(group.nodes, group.flat_routes, group.segment)


def map_pick(plan, group: RouteGroup, url: str) -> str:
    """The route id nginx gets from the group's maps as rendered (plan.route_maps): regex entries
    on the URL's bytes in order (PCRE without UTF), ``$1`` put into captured ids, hash maps on a
    segment variable ignoring ASCII case, a variable value evaluating that map."""
    maps = {m.var: m for m in plan.route_maps}
    segment_rx = {var: re.compile(rx.encode()) for var, rx in plan.segment_maps}
    raw = url.encode("utf-8", "surrogateescape")

    def value(v: str | CapturedRoute, is_var: bool, m: re.Match[bytes] | None) -> str:
        if is_var:
            return evaluate(maps[v])
        if isinstance(v, CapturedRoute):
            assert m is not None and m.re.groups == 1, "a captured id needs exactly one capture"
            return v.route_id(m.group(1).decode("utf-8", "surrogateescape"))
        return v

    def evaluate(rm) -> str:
        if rm.segment_var:
            found = segment_rx[rm.segment_var].match(raw)
            looked_up = ascii_lower(found.group(1).decode("utf-8", "surrogateescape")) if found else ""
            for key, v, is_var in rm.entries:
                if key == looked_up:
                    return value(v, is_var, None)
        else:
            for regex, v, is_var in rm.entries:
                if found := re.match(regex.encode("utf-8", "surrogateescape"), raw):
                    return value(v, is_var, found)
        return value(rm.default[0], rm.default[1], None)

    return evaluate(maps[group.var])


def flat_pick(group: RouteGroup, url: str) -> Route | None:
    return next((r for r in group.routes if r.template.compiled.match(url)), None)


def _urls(group: RouteGroup) -> set[str]:
    """Samples of every route, with parameters filled by every literal segment of the group (so a
    parameter also looks like a sibling's literal), plus one segment more and one less."""
    literals = sorted({s.literal_text for r in group.routes for s in r.template.segments if s.is_literal})[:40]
    urls = set()
    for r in group.routes:
        for fill in ["v1", "z.json", *literals]:
            if not fill:
                continue
            u = r.template.sample(fill=fill)
            urls.update({u, u + "/zz", u + "/", u.rsplit("/", 1)[0] + "/"})
            urls.update({u.upper(), u[: len(group.prefix)] + u[len(group.prefix) :].swapcase()})
    return {u for u in urls if u.startswith(group.prefix)}


def _check(plan) -> int:
    nested = 0
    segments = split_segments(plan.routes.groups)
    for group in plan.routes.groups:
        if group.nodes:
            nested += 1
        # The map's regexes skip what the prefix location matched: on every URL the location can
        # see, each matches exactly where the route's full regex does (bytes, like PCRE).
        skipping = [(r, re.compile(prefix_skipping_regex(r.template, group.prefix, False).encode("utf-8", "surrogateescape"))) for r in group.routes]
        for url in _urls(group):
            want = flat_pick(group, url)
            assert nginx_pick(group, url, segments) == want, url
            if group.routes:
                got = map_pick(plan, group, url)
                assert got == want.route_id if want else got.startswith(NOT_FOUND_ROUTE), (url, got)
            raw = url.encode("utf-8", "surrogateescape")
            for r, rx in skipping:
                assert bool(rx.match(raw)) == bool(r.template.compiled.match(url)), (r.route_id, url)
        if group.nodes:
            # Splitting is what keeps the scan short: no list longer than the threshold is left
            # unless its routes share no literal to split on.
            assert len(group.flat_routes) < len(group.routes)
    return nested


# The splits are checked on lists longer than this (the gateway's own threshold, NEST_ABOVE,
# leaves lists this short whole): the tricky shapes and the synthetic spec's groups get split.
SMALL_SPLIT = 8


@pytest.mark.parametrize("above", [SMALL_SPLIT, NEST_ABOVE])
def test_tricky_shapes_route_as_the_flat_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, above: int) -> None:
    monkeypatch.setattr(routing, "NEST_ABOVE", above)
    (tmp_path / "spec.json").write_text(json.dumps(_spec(TRICKY_PATHS)))
    plan = _plan(tmp_path, {"t": tmp_path / "spec.json"})
    assert _check(plan) >= (1 if above == SMALL_SPLIT else 0)


@pytest.mark.parametrize("above", [SMALL_SPLIT, NEST_ABOVE])
def test_synthetic_spec_routes_as_the_flat_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, above: int) -> None:
    monkeypatch.setattr(routing, "NEST_ABOVE", above)
    (tmp_path / "spec.json").write_text(json.dumps(generate(1500)))
    plan = _plan(tmp_path, {"s": tmp_path / "spec.json"})
    assert _check(plan) >= (10 if above == SMALL_SPLIT else 0)


@pytest.mark.skipif(CORPUS is None, reason="corpus not found (tests/corpus is vendored)")
def test_corpus_routes_as_the_flat_list(tmp_path: Path) -> None:
    assert CORPUS is not None
    specs = {"twilio": CORPUS / "twilio_api_v2010.yaml", "box": CORPUS / "box-openapi.json", "discord": CORPUS / "discord-openapi-3.1.json"}
    plan = _plan(tmp_path, specs)
    assert _check(plan) >= 1
    twilio = next(g for g in plan.routes.groups if g.prefix == "/2010-04-01/Accounts/")
    assert len(twilio.routes) > 100 and twilio.nodes


def test_sibling_routes_share_one_regex(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(_spec(SIBLING_PATHS)))
    plan = _plan(tmp_path, {"t": tmp_path / "spec.json"})
    _check(plan)
    captured = {
        m.var: [v for _, v, _ in m.entries if isinstance(v, CapturedRoute)] for m in plan.route_maps
    }
    groups = {g.prefix: g for g in plan.routes.groups}
    # All eight /m/ siblings in one regex, whose capture rebuilds each id.
    (m_value,) = captured[groups["/m/"].var]
    assert (m_value.before, m_value.after) == ("/m/{}/", "")
    assert len(next(m for m in plan.route_maps if m.var == groups["/m/"].var).entries) == 1
    # /n/: the middle-segment siblings merge, except the " [2]" case variant.
    assert [(v.before, v.after) for v in captured[groups["/n/"].var]] == [("/n/{}/", "/{}")]
    ids = {r.route_id for r in groups["/n/"].routes}
    assert "/n/{}/calls/{} [2]" in ids or "/n/{}/Calls/{} [2]" in ids
    # A dollar outside the capture: the value's text is escaped, $1 stays the reference.
    assert [(v.before, v.after) for v in captured[groups["/d$1/"].var]] == [("/d$1/{}/", "")]


def test_merged_regexes_fit_nginx_tokens(tmp_path: Path) -> None:
    """Literals that quoting and PCRE escaping make four times longer ('"' is \\\" in the
    token): a run is cut where its regex would pass nginx's token limit."""
    paths = [f"/q/{{x}}/{i:02d}" + '"' * 300 for i in range(20)]
    (tmp_path / "spec.json").write_text(json.dumps(_spec(paths)))
    plan = _plan(tmp_path, {"t": tmp_path / "spec.json"})
    _check(plan)
    group = next(g for g in plan.routes.groups if g.prefix == "/q/")
    (route_map,) = (m for m in plan.route_maps if m.var == group.var)
    sizes = [token_bytes("~" + regex) for regex, _, _ in route_map.entries]
    assert 1 < len(sizes) < 20 and max(sizes) <= MAX_TOKEN_BYTES, sizes


def test_a_route_with_named_captures_keeps_its_own_regex(tmp_path: Path) -> None:
    """A rewrite template reads the route's parameters as named captures ($apigen_p1): that
    route is never merged (the alternation's $1 would be its parameter)."""
    paths = ["/c/{id}/a", "/c/{id}/b", "/c/{id}/x"]
    (tmp_path / "spec.json").write_text(json.dumps(_spec(paths)))
    policy = {
        "gateway": {"listen": "127.0.0.1:8080"},
        "upstreams": {"be": {"servers": [{"address": "127.0.0.1:9"}]}},
        "policies": {"inner": {"kind": "rewrite", "template": "/internal/{id}"}},
        "apis": [{"name": "t", "spec": str(tmp_path / "spec.json"), "upstream": "be", "operations": {"op1": {"use": ["inner"]}}}],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    plan = compile_policy(tmp_path / "policy.json", render=False).plan
    _check(plan)
    group = next(g for g in plan.routes.groups if g.prefix == "/c/")
    (route_map,) = (m for m in plan.route_maps if m.var == group.var)
    assert [v for _, v, _ in route_map.entries] == ["/c/{}/a", "/c/{}/b", "/c/{}/x"]
    assert "(?P<apigen_p1>" in route_map.entries[1][0]
    # Without the rewrite the three share one regex.
    policy["apis"][0].pop("operations")
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    plan = compile_policy(tmp_path / "policy.json", render=False).plan
    (route_map,) = (m for m in plan.route_maps if m.var == group.var)
    assert [v for _, v, _ in route_map.entries] == [CapturedRoute("/c/{}/", "")]


def test_short_groups_stay_flat(tmp_path: Path) -> None:
    paths = [f"/p/{{x}}/c{i}/{{y}}" for i in range(NEST_ABOVE)]
    (tmp_path / "spec.json").write_text(json.dumps(_spec(paths)))
    plan = _plan(tmp_path, {"t": tmp_path / "spec.json"})
    assert all(not g.nodes for g in plan.routes.groups)


def test_every_route_is_reachable_in_the_nesting(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(generate(800)))
    plan = _plan(tmp_path, {"s": tmp_path / "spec.json"})
    for group in plan.routes.groups:
        def all_routes(nodes, flat):
            return {r.route_id for r in flat} | set(itertools.chain.from_iterable(all_routes(n.nodes, n.flat) for n in nodes))

        assert all_routes(group.nodes, group.flat_routes) == {r.route_id for r in group.routes}


def test_split_threshold_grows_with_the_gateway(tmp_path: Path) -> None:
    """Every map costs every request; a split helps only the requests reaching its list. A list
    one route over NEST_ABOVE is split in a small gateway, and left whole among enough templated
    routes that N / ROUTES_PER_NEST_STEP exceeds its length."""
    assert nest_threshold(100) == NEST_ABOVE
    big = ROUTES_PER_NEST_STEP * (NEST_ABOVE + 2)
    assert nest_threshold(big) == NEST_ABOVE + 2
    group = [f"/g/{{x}}/c{i}/{{y}}" for i in range(NEST_ABOVE + 1)]
    (tmp_path / "spec.json").write_text(json.dumps(_spec(group)))
    (small,) = (g for g in _plan(tmp_path, {"t": tmp_path / "spec.json"}).routes.groups if g.prefix == "/g/")
    assert small.nodes and len(small.routes) == NEST_ABOVE + 1
    # Among `big` templated routes the same list stays one (what build_route_table passes on).
    nodes, flat, _ = nest_routes(small.routes, 1, above=nest_threshold(big))
    assert not nodes and flat == small.routes
