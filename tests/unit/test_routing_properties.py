"""Property: whatever the templates, every URL that some route matches is routed (never a 404),
to a route that matches it; routes of equal shape never coexist. nginx's choice is simulated:
exact locations, then the longest prefix group, then its regexes in order."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from apigen.diagnostics import Diagnostics
from apigen.model.types import Api, Attachment, Gateway, GatewayConfig, Operation, Upstream, UpstreamServer
from apigen.plan.paths import PathTemplate
from apigen.plan.routing import RouteTable, build_route_table
from apigen.targets import Target

SEGMENTS = ["a", "b", "a.json", "{p}", "{p}.json", "x.{p}", "{p}.{q}", "a{p}"]
FILLS = ["a", "b", "x", "1", "a.json", "x.json", "b.a"]

templates = st.lists(
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map(lambda segs: "/" + "/".join(segs)),
    min_size=1,
    max_size=8,
    unique=True,
)


def config_for(paths: list[str], base: str) -> GatewayConfig:
    ops = tuple(
        Operation(api="api", operation_id=f"op{i}", method="GET", path=p, route_path=p) for i, p in enumerate(paths)
    )
    api = Api(
        name="api", spec_file="s", spec_uri="file:///s", spec_version="3.0", base_path=base, strip_base_path=False,
        upstream="u", attachment=Attachment("api"), tags={}, operations_attachments={}, operations=ops,
    )  # fmt: skip
    return GatewayConfig(
        target=Target.parse("oss", "1.22"),
        gateway=Gateway(),
        upstreams={"u": Upstream("u", (UpstreamServer("127.0.0.1:1"),))},
        policies={},
        apis=(api,),
        policy_file="policy.yaml",
        input_digests=(),
    )


def nginx_choice(table: RouteTable, url: str) -> PathTemplate | None:
    for r in table.exact:
        if r.template.text == url:
            return r.template
    groups = [g for g in table.groups if url.startswith(g.prefix)]
    best = max(groups, key=lambda g: len(g.prefix))
    for r in best.routes:
        if re.match(r.template.regex(), url):
            return r.template
    return None


def unique_by_shape(paths: list[str]) -> list[str]:
    seen, out = set(), []
    for p in paths:
        shape = PathTemplate(p).shape
        if shape not in seen:
            seen.add(shape)
            out.append(p)
    return out


@settings(max_examples=300, deadline=None)
@given(templates, st.sampled_from(["", "/v1", "/a"]), st.sampled_from(FILLS))
def test_every_matchable_url_is_routed_to_a_matching_route(paths: list[str], base: str, fill: str) -> None:
    paths = unique_by_shape(paths)
    table = build_route_table(config_for(paths, base), Diagnostics())
    assert len(table.routes) == len(paths)
    for route in table.routes:
        url = route.template.sample(fill)
        chosen = nginx_choice(table, url)
        assert chosen is not None, f"{url} (matched by {route.template.text}) gets 404"
        assert re.match(chosen.regex(), url), (url, chosen.text)
        if route.is_exact:
            assert chosen == route.template  # concrete paths always win


@settings(max_examples=100, deadline=None)
@given(templates)
def test_route_order_is_a_function_of_the_set_of_paths(paths: list[str]) -> None:
    paths = unique_by_shape(paths)
    a = build_route_table(config_for(paths, "/v1"), Diagnostics())
    b = build_route_table(config_for(list(reversed(paths)), "/v1"), Diagnostics())
    assert [(g.prefix, [r.route_id for r in g.routes]) for g in a.groups] == [
        (g.prefix, [r.route_id for r in g.routes]) for g in b.groups
    ]
