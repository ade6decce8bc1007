"""The diff in user terms: routes added or removed, and what changed per operation.

Routes come from the dispatch map of each bundle (``"<route> <METHOD>" -> internal location``),
so the summary works against any bundle directory. When both sides were compiled from inputs,
the plans also say which policies (by name and kind) and upstream each operation gained or lost.
"""

from __future__ import annotations

from typing import Any

from apigen.diff.semantic import BlockView, Change, Context
from apigen.plan.planner import INTERNAL_OP_PREFIX

DISPATCH_TARGET = "$apigen_target"
OP_PREFIX = "location " + INTERNAL_OP_PREFIX


def dispatch_routes(views: dict[Context, BlockView]) -> dict[str, str]:
    """``"METHOD /path/{}" -> internal location`` from the dispatch map (HEAD implied by GET)."""
    routes: dict[str, str] = {}
    for context, view in views.items():
        if not context or not context[-1].startswith("map ") or not context[-1].endswith(" " + DISPATCH_TARGET):
            continue
        for (key, args), _ in view.unordered.items():
            route, _, method = key.rpartition(" ")
            if key == "default" or not route or method == "HEAD":
                continue
            routes[f"{method} {route}"] = args[0] if args else ""
    return routes


def plan_operations(plan: Any) -> dict[str, dict[str, Any]]:
    """``api.operationId -> {route, policies, upstream}`` from a compiled plan."""
    from apigen.plan.paths import join_base
    from apigen.policies import registry

    def acts(p: Any, eff: Any) -> bool:  # a cache on a POST is attached but does nothing
        kind = registry.get(p.policy.kind)
        return kind is None or not kind.inactive_reason(p.policy, eff)

    out: dict[str, dict[str, Any]] = {}
    for api in plan.apis:
        base = plan.config.api(api.name).base_path
        for op in api.operations:
            eff = op.effective
            out[f"{op.api}.{op.operation_id}"] = {
                "route": f"{op.method} {join_base(base, op.path)}",
                "policies": sorted(f"{p.policy.name} ({p.policy.kind})" for p in eff.policies if acts(p, eff)),
                "upstream": eff.upstream,
            }
    return out


def summarise(
    old_views: dict[Context, BlockView],
    new_views: dict[Context, BlockView],
    changes: list[Change],
    old_plan: Any = None,
    new_plan: Any = None,
) -> dict[str, Any]:
    old_routes, new_routes = dispatch_routes(old_views), dispatch_routes(new_views)
    summary: dict[str, Any] = {
        "routes_added": sorted(set(new_routes) - set(old_routes)),
        "routes_removed": sorted(set(old_routes) - set(new_routes)),
    }
    # Operations whose internal location changed, with the directives that did.
    touched: dict[str, set[str]] = {}
    for c in changes:
        for label in (*c.context, c.directive):
            if label.startswith(OP_PREFIX):
                op = label.removeprefix("location ")
                touched.setdefault(op, set()).add(c.directive if c.directive != label else c.change)
                break
    summary["operations_changed"] = {op: sorted(d) for op, d in sorted(touched.items())}
    # A whole upstream block added or removed is that, not "changed" (found by a hunt).
    whole: dict[str, set[str]] = {}
    for c in changes:
        if c.change in ("added", "removed") and c.directive.startswith("upstream ") and not any(
            label.startswith("upstream ") for label in c.context
        ):
            whole.setdefault(c.change, set()).add(c.directive.removeprefix("upstream "))
    summary["upstreams_added"] = sorted(whole.get("added", set()))
    summary["upstreams_removed"] = sorted(whole.get("removed", set()))
    summary["upstreams_changed"] = sorted(
        {
            label.removeprefix("upstream ")
            for c in changes
            for label in (*c.context, c.directive)
            if label.startswith("upstream ")
        }
        - whole.get("added", set())
        - whole.get("removed", set())
    )
    if old_plan is not None and new_plan is not None:
        a, b = plan_operations(old_plan), plan_operations(new_plan)
        policies = {}
        for key in sorted(set(a) & set(b)):
            pa, pb = set(a[key]["policies"]), set(b[key]["policies"])
            entry: dict[str, Any] = {}
            if pa != pb:
                entry["added"] = sorted(pb - pa)
                entry["removed"] = sorted(pa - pb)
            if a[key]["upstream"] != b[key]["upstream"]:
                entry["upstream"] = [a[key]["upstream"], b[key]["upstream"]]
            if entry:
                policies[key] = entry
        summary["policies_changed"] = policies
    return summary


def grouped_lines(changes: list[Change]) -> list[str]:
    """Text lines of the semantic diff; one change repeated in many operation locations is one
    line naming them."""
    groups: dict[tuple, list[str]] = {}
    order: list[tuple] = []
    for c in changes:
        last = c.context[-1] if c.context else ""
        if last.startswith(OP_PREFIX):
            key: tuple = ("op", c.change, c.context[:-1], c.directive, c.old, c.new)
            name = last.removeprefix(OP_PREFIX)
        else:
            key, name = ("one", c), ""
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(name)
    lines = []
    for key in order:
        names = groups[key]
        if key[0] == "one":
            lines.append(str(key[1]))
            continue
        _, change, parent, directive, old, new = key
        label = OP_PREFIX + names[0] if len(names) == 1 else f"{len(names)} operation locations ({', '.join(names)})"
        lines.append(str(Change(change, (*parent, label), directive, old, new)))
    return lines


def summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    for route in summary["routes_added"]:
        lines.append(f"+ route {route}")
    for route in summary["routes_removed"]:
        lines.append(f"- route {route}")
    if "include_dir" in summary:
        before, after = summary["include_dir"]
        lines.append(f"~ include_dir {before or '(bundle directory)'} -> {after or '(bundle directory)'}")
    for name in summary.get("upstreams_added", []):
        lines.append(f"+ upstream {name}")
    for name in summary.get("upstreams_removed", []):
        lines.append(f"- upstream {name}")
    for name in summary.get("upstreams_changed", []):
        lines.append(f"~ upstream {name}")
    for op, entry in (summary.get("policies_changed") or {}).items():
        parts = [f"+{p}" for p in entry.get("added", [])] + [f"-{p}" for p in entry.get("removed", [])]
        if "upstream" in entry:
            parts.append(f"upstream {entry['upstream'][0]} -> {entry['upstream'][1]}")
        lines.append(f"~ operation {op}: {', '.join(parts)}")
    if "policies_changed" not in summary or not summary["policies_changed"]:
        by_directives: dict[tuple[str, ...], list[str]] = {}
        for op, directives in summary["operations_changed"].items():
            by_directives.setdefault(tuple(directives), []).append(op.removeprefix(INTERNAL_OP_PREFIX))
        for directives, ops in by_directives.items():
            who = f"operation {ops[0]}" if len(ops) == 1 else f"{len(ops)} operations ({', '.join(ops)})"
            lines.append(f"~ {who}: {', '.join(directives)}")
    return lines
