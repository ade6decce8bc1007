"""Tabular views of a plan (for `apigen routes`)."""

from __future__ import annotations

from typing import Any

from apigen.plan.planner import Plan
from apigen.plan.routing import group_prefix


def route_location(plan: Plan, route_id: str) -> str:
    table = plan.routes
    for r in table.exact:
        if r.route_id == route_id:
            return f"= {r.template.text}"
    for g in table.groups:
        for r in g.routes:
            # The group that matches it: its literal prefix, cut back for long paths (a concrete
            # path over nginx's 255-byte location names is matched there too; `?` before).
            if r.route_id == route_id and g.prefix == group_prefix(r):
                return f"^~ {g.prefix} > ~ {r.template.regex()}"
    return "?"


def route_rows(plan: Plan) -> list[dict[str, Any]]:
    ops = {(o.api, o.operation_id): o for a in plan.apis for o in a.operations}
    rows = []
    for route, method, op in plan.routes.operations():
        if method == "HEAD" and any(m == "GET" and o is op for m, o in route.operations):
            continue  # implied by GET
        opplan = ops[(op.api, op.operation_id)]
        rows.append(
            {
                "method": method,
                "path": route.template.text,
                "api": op.api,
                "operation": op.operation_id,
                "location": route_location(plan, route.route_id),
                "internal_location": opplan.internal_uri,
                "upstream": opplan.upstream,
            }
        )
    return rows
