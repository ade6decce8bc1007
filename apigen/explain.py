"""`apigen explain METHOD URL` and the per-operation view of `apigen routes`.

Request resolution mirrors the generated configuration and uses the compiler's own route table
(:mod:`apigen.plan.routing`, :mod:`apigen.plan.paths`): an exact location first, else the longest
``^~`` prefix group and, in the group's route map, the first regex that matches (the group's order);
then the dispatch map by method (405 with ``Allow`` when the route lacks the method).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from apigen.lint.kinds import DIRECTIVE_PHASE, KIND_PHASE, PHASE_ORDER
from apigen.plan.planner import INTERNAL_OP_PREFIX, OperationPlan, Plan
from apigen.plan.routing import RESERVED_PREFIX, Route, path_is_ambiguous
from apigen.policies import registry


def normalise_uri(url: str) -> str:
    """The URI nginx matches locations against: path only, percent-decoded, ``//`` merged,
    ``.``/``..`` resolved."""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0].split("#", 1)[0]
    path = unquote(path or "/")
    path = re.sub(r"/{2,}", "/", path)
    # nginx keeps the slash of a final dot segment: /v1/pets/.. is /v1/ (posixpath drops it).
    trailing = (path.endswith(("/", "/.", "/..")) and path != "/")
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    return path + ("/" if trailing and path != "/" else "")


@dataclass
class Resolution:
    method: str
    uri: str
    status: int  # 200: reaches an operation; 400/404/405 answered by the gateway
    location: str  # the location that matched, as in the bundle
    route: Route | None = None
    operation: OperationPlan | None = None
    allow: str = ""
    notes: list[str] = field(default_factory=list)


def _find_op(plan: Plan, api: str, operation_id: str) -> OperationPlan | None:
    for a in plan.apis:
        if a.name == api:
            for op in a.operations:
                if op.operation_id == operation_id:
                    return op
    return None


def _host_served(plan: Plan, host: str) -> bool:
    """Does a ``server_name`` of the gateway take ``host``? Regex names are not evaluated here
    (reported as served)."""
    host = host.lower().rstrip(".")
    for name in plan.server_names:
        name = name.lower()
        if name == "_" or name.startswith("~") or name == host:
            return True
        if name.startswith("*.") and host.endswith(name[1:]):
            return True
        if name.startswith(".") and (host == name[1:] or host.endswith(name)):
            return True
    return False


# A request target nginx's request-line parser takes: a path (origin form) or an absolute URL.
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# Bytes the parser refuses anywhere in the target: whitespace ends it, control characters are
# errors (each 400 from a live nginx 1.22).
_RAW_REFUSED = re.compile(r"[\x00-\x20\x7f]")


def resolve(plan: Plan, method: str, url: str) -> Resolution:
    if not (url.startswith("/") or _ABSOLUTE_URL.match(url)) or _RAW_REFUSED.search(url):
        # Found by a hunt: `explain GET v1/pets` (or `api.example.com/v1/pets`, `*`, a raw space
        # or tab) predicted the gateway's 404 or an operation; nginx answers 400 before routing.
        return Resolution(
            method, url, 400, "(none)",
            notes=["nginx refuses this request target (400): send a path starting with `/` or a full "
                   "http:// URL, with spaces and control characters percent-encoded"],
        )
    uri = normalise_uri(url)
    host = urlsplit(url).hostname if "://" in url else None
    if host and plan.reject_unknown_hosts and not _host_served(plan, host):
        return Resolution(
            method, uri, 444, "(default server)",
            notes=[f"{host} is not a server_name of the gateway: the default server closes the connection (444)"],
        )
    # nginx's request-line parser: methods are upper-case letters, "_" and "-"; a NUL in the
    # decoded path is refused. Both are 400 before any location.
    raw = url.split("://", 1)[1].partition("/")[1:] if "://" in url else ("", url)
    raw_path = "".join(raw).split("?", 1)[0].split("#", 1)[0]
    if not re.fullmatch(r"[A-Z_-]+", method) or "\x00" in uri or re.search(r"%(?![0-9A-Fa-f]{2})", raw_path):
        return Resolution(method, uri, 400, "(none)", notes=["nginx refuses this request line (400)"])
    if method in ("TRACE", "CONNECT"):
        return Resolution(
            method, uri, 405, "(none)",
            notes=[f"nginx answers every {method} request 405 before any location is chosen (without Allow)"],
        )
    res = _resolve_normalised(plan, method, uri)
    # The dispatch map answers 400 for such a path: where a route was found, and where a group's
    # route map found none (its not-found route goes through the dispatch map too).
    if path_is_ambiguous("".join(raw)) and (res.route is not None or " > $" in res.location):
        res.status, res.operation = 400, None
        res.notes.append(
            "the raw path does not read as the normalised one nginx routes on (an encoded slash, a dot "
            "or empty segment, a raw `;` or `#`): 400 before any operation"
        )
    if res.status == 200 and res.route is not None and _rewrite_ambiguous(plan, res.route, method, uri):
        res.status, res.operation = 400, None
        res.notes.append(
            "a parameter the operation's rewrite sends upstream holds a `;` (sent as %3B): nginx would "
            "send it raw in the rewritten path, so the gateway answers 400 before any operation"
        )
    if res.status in (404, 405):
        _guarded(plan, res)
    if method == "OPTIONS" and res.status == 405 and res.route is not None:
        asked = [e.key.rsplit(" ", 1)[1] for e in plan.preflight if e.key.rsplit(" ", 1)[0] == res.route.route_id]
        if asked:
            res.notes.append(
                "a CORS preflight (with Access-Control-Request-Method: " + ", ".join(asked) + ") is answered "
                "204 by the operation's preflight location, after its limits; a plain OPTIONS gets 405"
            )
    return res


def _rewrite_ambiguous(plan: Plan, route: Route, method: str, uri: str) -> bool:
    """Does a parameter a rewrite sends upstream decoded hold a ";" ($apigen_rewrite_ambiguous)?"""
    params = dict(plan.rewrite_checks).get(f"{route.route_id} {method}")
    m = re.match(route.template.regex(named_captures=True), uri) if params is not None else None
    return m is not None and any(";" in (m.group(v) or "") for v in re.findall(r"apigen_p\d+", str(params)))


def _guarded(plan: Plan, res: Resolution) -> None:
    """Unknown paths and methods of an API whose policies guard them (authentication, IP rules)
    go to its unmatched location, which runs those policies before answering 404/405."""
    api = (res.route.api if res.route is not None else _group_api(plan, res.uri)) or plan.root_api
    unmatched = plan.unmatched_for(api) if api else None
    if unmatched is None:
        return
    res.location = unmatched.uri_404 if res.status == 404 else unmatched.uri_405
    names = ", ".join(sorted({f"{u.kind}" for u in unmatched.policies}))
    res.notes.append(
        f"API {api}'s policies ({names}) run first: without valid credentials (or from a refused address) "
        f"the answer is theirs (401/403), else {res.status}"
    )


def _group_api(plan: Plan, uri: str) -> str | None:
    groups = [g for g in plan.routes.groups if uri.startswith(g.prefix)]
    return max(groups, key=lambda g: len(g.prefix)).api if groups else None


def _resolve_normalised(plan: Plan, method: str, uri: str) -> Resolution:
    table = plan.routes
    route: Route | None = None
    location = ""
    if uri == RESERVED_PREFIX or uri.startswith(RESERVED_PREFIX + "/"):
        return Resolution(method, uri, 404, f"= {uri} (internal)", notes=["internal locations answer 404 to clients"])
    for r in table.exact:
        if r.template.text == uri:
            route, location = r, f"= {uri}"
            break
    if route is None:
        groups = [g for g in table.groups if uri.startswith(g.prefix) or (g.prefix == "/" and uri.startswith("/"))]
        if not groups:
            return Resolution(method, uri, 404, "(none)")
        group = max(groups, key=lambda g: len(g.prefix))
        outer = "/" if group.prefix == "/" else f"^~ {group.prefix}"
        for r in group.routes:
            if r.template.compiled.match(uri):
                route, location = r, f"{outer} > ${group.var} ~ {r.template.regex()}"
                break
        if route is None:
            where = f"{outer} > ${group.var}" if group.routes else outer
            return Resolution(method, uri, 404, where, notes=[f"no path of the API matches under {group.prefix}"])
    methods = dict(route.operations)
    if method not in methods:
        return Resolution(method, uri, 405, location, route, allow=route.allow)
    op = methods[method]
    opplan = _find_op(plan, op.api, op.operation_id)
    return Resolution(method, uri, 200, location, route, opplan)


def policy_origin(source: Any, origin: tuple, name: str) -> dict[str, Any]:
    """Where a policy was attached: the attachment's data path and its ``use:`` entry's position."""
    node: Any = source.data
    for key in origin:
        node = node[key] if isinstance(node, dict | list) else {}
    use = node.get("use") or [] if isinstance(node, dict) else []
    pos = source.pos(*origin, "use", use.index(name)) if name in use else source.pos(*origin)
    return {"path": _path_text(origin), "file": pos.file, "line": pos.line, "column": pos.col}


def _path_text(path: tuple) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def operation_details(op: OperationPlan, plan: Plan, source: Any) -> dict[str, Any]:
    """Effective policies of one operation (in nginx phase order) with where each came from."""
    eff = op.effective
    api = plan.config.api(op.api)
    security = eff.op.security if eff.op.security is not None else api.security
    policies, inactive = [], []
    for p in sorted(eff.policies, key=lambda p: PHASE_ORDER.index(KIND_PHASE.get(p.policy.kind, "other"))):
        entry = {
            "name": p.policy.name,
            "kind": p.policy.kind,
            "phase": KIND_PHASE.get(p.policy.kind, "other"),
            "level": p.level,
            "origin": policy_origin(source, p.origin, p.policy.name) if source is not None else None,
        }
        kind = registry.get(p.policy.kind)
        reason = kind.inactive_reason(p.policy, eff) if kind is not None else None
        if reason:
            inactive.append(entry | {"reason": reason})
        else:
            policies.append(entry)
    t = eff.timeouts
    return {
        "api": op.api,
        "operation": op.operation_id,
        "internal_location": op.internal_uri,
        "upstream": eff.upstream,
        "upstream_origin": eff.upstream_origin,
        "timeouts": {k: v for k, v in (("connect", t.connect), ("read", t.read), ("send", t.send)) if v},
        "security": [{k: list(v) for k, v in alt.items()} for alt in security],
        "policies": policies,
        # Attached, but doing nothing here (a cache on a POST): listed apart, with the reason.
        "inactive_policies": inactive,
    }


def location_phases(payload: dict[str, Any], internal_uri: str) -> dict[str, list[str]]:
    """The directives of an operation's internal location in the rendered bundle, by phase."""
    from apigen.diff.semantic import fmt_args
    from apigen.verify.parse import iter_directives

    label = f"location {internal_uri}"
    phases: dict[str, list[str]] = {}
    for ref in iter_directives(payload):
        if ref.context and ref.context[-1] == label:
            if ref.directive == "internal":
                continue
            phase = DIRECTIVE_PHASE.get(ref.directive)
            if phase is None:
                phase = "content" if ref.directive.startswith(("proxy_", "js_content", "grpc_")) else "settings"
            phases.setdefault(phase, []).append(f"{ref.directive} {fmt_args(ref.args)}".rstrip())
    return {p: phases[p] for p in (*PHASE_ORDER, "settings") if p in phases}


__all__ = ["INTERNAL_OP_PREFIX", "Resolution", "location_phases", "normalise_uri", "operation_details", "resolve"]
