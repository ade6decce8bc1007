"""``kind: headers`` - request headers sent upstream and response headers sent to the client.

Request: ``set`` replaces, ``append`` adds to the client's value (``a, b``; just the value when
the client sent none), ``remove`` drops. Response: ``set`` replaces the upstream's header (hide +
add), ``append`` adds another header line, ``hide`` drops upstream headers (``X-Powered-By``).
Response headers are added ``always`` (also on error answers) unless ``always: false``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from apigen.diagnostics import Diagnostics
from apigen.policies import COMPOSITE_REASON, PolicyKind, is_composite, register
from apigen.render.quoting import MAX_TOKEN_BYTES, Arg, quote, token_bytes

if TYPE_CHECKING:
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation


@dataclass(frozen=True)
class AppendMap:
    """``map $http_<name> $apigen_hdr_<digest>``: the value alone, or appended to the client's."""

    source_var: str
    var: str
    alone: Arg
    appended: Arg
    value: str = ""  # what is appended, as written


@dataclass(frozen=True)
class HeadersPlan:
    request_set: tuple[tuple[str, str], ...]
    request_remove: tuple[str, ...]
    response_set: tuple[tuple[str, str], ...]
    response_hide: tuple[str, ...]
    request_append: tuple[tuple[str, AppendMap], ...] = ()
    response_append: tuple[tuple[str, str], ...] = ()
    always: bool = True


def _append_map(header: str, value: str) -> AppendMap:
    source = "http_" + re.sub(r"[^a-z0-9_]", "_", header.lower())
    digest = hashlib.sha256(f"{header}\0{value}".encode()).hexdigest()[:10]
    literal = str(quote(value, variables=True))  # '"..."' with dollars neutralised; str: no Markup escaping
    return AppendMap(source, f"apigen_hdr_{digest}", Arg(literal), Arg('"${' + source + "}, " + literal[1:]), value)


# Headers nginx itself writes for the message and the connection (RFC 9110 7.6.1 hop-by-hop
# fields, and the body's framing), in requests and in responses.
FRAMING_HEADERS = frozenset(
    {"connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
# Request headers the gateway writes itself (templates/_forwarding.j2, _locations.j2): a policy's
# `set` or `remove` replaces the gateway's line; an `append` would add to the client's value, which
# the gateway replaces (X-Forwarded-For went upstream as the client's forged value; a review).
GATEWAY_REQUEST_HEADERS = frozenset(
    {"host", "x-forwarded-for", "x-real-ip", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-request-id",
     "x-http-method", "x-http-method-override", "x-method-override", "x-forwarded-port", "x-forwarded-prefix",
     "x-forwarded-ssl", "x-forwarded-scheme", "x-original-url", "x-rewrite-url"}
)
# Response headers nginx (or the gateway, X-Request-ID) writes on every answer.
NGINX_RESPONSE_HEADERS = frozenset({"server", "date", "x-request-id"})
# The header aggregate parts trust for the client name (set by the gateway on every operation).
CLIENT_HEADER = "X-Apigen-Client"

# RFC 9110 field values: no CR, LF, NUL or other control characters (HTAB is allowed). nginx would
# send a decoded `\n` as is, splitting the header block.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Headers(PolicyKind):
    name = "headers"
    accumulates = True
    order = 50

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        self._check_request_names(policy, config, source, diags)
        self._check_response_names(policy, source, diags)
        for side in ("request", "response"):
            for action in ("set", "append"):
                for name, value in ((policy.config.get(side) or {}).get(action) or {}).items():
                    m = _BAD_VALUE_CHAR.search(value)
                    if not m and token_bytes(value, variables=True) > MAX_TOKEN_BYTES:
                        diags.error(
                            f"header {name} value is too long for an nginx configuration token",
                            source.pos(*policy.path, side, action, name),
                        )
                    if m:
                        diags.error(
                            f"header {name} value has a control character {m.group()!r} at offset {m.start()}",
                            source.pos(*policy.path, side, action, name),
                        )

    def _check_request_names(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        """Request headers a headers policy may not decide: the message framing and hop-by-hop
        headers nginx manages (a set Content-Length or Transfer-Encoding would make the upstream
        read the body differently than nginx sent it), and the identity the gateway's
        authentication establishes (a set or appended X-User-Id reached the upstream next to
        the verified one: two lines; found by a review)."""
        from apigen.policies.auth import identity_headers

        identity = {h.lower(): h for h in identity_headers(config)} | {CLIENT_HEADER.lower(): CLIENT_HEADER}
        request = policy.config.get("request") or {}
        for action in ("set", "append", "remove"):
            entries = request.get(action) or ()
            for index, name in enumerate(entries):
                where = source.pos(*policy.path, "request", action, name if isinstance(entries, dict) else index, key=isinstance(entries, dict))
                if name.lower() in FRAMING_HEADERS:
                    diags.error(f"request header {name} is managed by nginx (message framing and connection); a headers policy cannot {action} it", where)
                elif action == "append" and (
                    name.lower() in GATEWAY_REQUEST_HEADERS or name.lower() == str(config.gateway.operation_header or "").lower()
                ):
                    diags.error(
                        f"request header {name} is written by the gateway, which replaces the client's value: `append` "
                        "would add to what the client sent; use `set` (or `remove`)",
                        where,
                    )
                elif name.lower() in identity:
                    diags.error(
                        f"request header {name} carries the client's identity established by the gateway's authentication; "
                        f"a headers policy cannot {action} it",
                        where,
                    )

    def _check_response_names(self, policy: PolicyDef, source: PolicySource, diags: Diagnostics) -> None:
        """Response headers nginx writes itself: ``add_header`` adds a second line next to
        nginx's (seen live: two ``Server``, two ``Date``, two ``X-Request-ID``), and a second
        ``Content-Length`` or ``Transfer-Encoding`` lets a client or cache in front frame the
        answer differently than nginx did (found by a hunt)."""
        response = policy.config.get("response") or {}
        for action in ("set", "append"):
            for name in response.get(action) or {}:
                where = source.pos(*policy.path, "response", action, name, key=True)
                if name.lower() in FRAMING_HEADERS:
                    diags.error(
                        f"response header {name} is managed by nginx (message framing and connection); "
                        f"a headers policy cannot {action} it",
                        where,
                    )
                elif name.lower() in NGINX_RESPONSE_HEADERS:
                    diags.error(
                        f"response header {name} is written by nginx on every answer: `{action}` would send a "
                        "second line next to nginx's",
                        where,
                        hint="nginx has no directive that replaces its own line; `hide` drops the upstream's",
                    )

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        req = policy.config.get("request") or {}
        resp = policy.config.get("response") or {}
        response_set = tuple(sorted((resp.get("set") or {}).items()))
        return HeadersPlan(
            request_set=tuple(sorted((req.get("set") or {}).items())),
            request_remove=tuple(sorted(req.get("remove") or ())),
            response_set=response_set,
            # A set response header replaces the upstream's: hide it, then add ours.
            response_hide=tuple(sorted(set(resp.get("hide") or ()) | {name for name, _ in response_set})),
            request_append=tuple((h, _append_map(h, v)) for h, v in sorted((req.get("append") or {}).items())),
            response_append=tuple(sorted((resp.get("append") or {}).items())),
            always=bool(resp.get("always", True)),
        )

    def combine(self, plans: list[Any]) -> list[Any]:
        """Headers policies accumulate (gateway-wide security headers and an operation's own),
        in level order (``plans``: the most specific last). A request header gets one decision
        from all of them: a later `set` or `remove` replaces what came before, an `append` adds to
        it (to the client's value, or to an earlier set value; after a remove it is the value);
        two lines for one header would both reach the upstream (found by a hunt: a stripped
        identity header came back with a later append). A response header a later policy sets
        or hides replaces (or drops) what earlier ones set or append; response appends add lines."""
        decided: dict[str, tuple[str, str, list[str]]] = {}  # lower name -> (name, state, values)
        for plan in plans:
            for name, value in plan.request_set:
                decided[name.lower()] = (name, "set", [value])
            for name in plan.request_remove:
                decided[name.lower()] = (name, "removed", [])
            for name, appended in plan.request_append:
                _, state, values = decided.get(name.lower(), (name, "append", []))
                if state == "append":
                    decided[name.lower()] = (name, "append", [*values, appended.value])
                elif state == "set":
                    decided[name.lower()] = (name, "set", [f"{values[0]}, {appended.value}"])
                else:
                    decided[name.lower()] = (name, "set", [appended.value])
        request = {
            "request_set": tuple(sorted((n, v[0]) for n, st, v in decided.values() if st == "set")),
            "request_remove": tuple(sorted(n for n, st, _ in decided.values() if st == "removed")),
            "request_append": tuple(
                sorted((n, _append_map(n, ", ".join(v))) for n, st, v in decided.values() if st == "append")
            ),
        }
        out = []
        for i, plan in enumerate(plans):
            # A more specific set or hide decides the header (response_hide holds a plan's own
            # set names too): a less specific set or append of it goes.
            later = {n.lower() for p in plans[i + 1 :] for n in p.response_hide}
            mine = request if i == 0 else {"request_set": (), "request_remove": (), "request_append": ()}
            out.append(
                replace(
                    plan,
                    **mine,
                    response_set=tuple(e for e in plan.response_set if e[0].lower() not in later),
                    response_append=tuple(e for e in plan.response_append if e[0].lower() not in later),
                )
            )
        return out

    def inactive_reason(self, policy: PolicyDef, eff: EffectiveOperation) -> str | None:
        # Request headers go with the proxied request (a composite operation's parts send their
        # own); response headers are added to a composite's answer too.
        if is_composite(eff) and not any((policy.config.get("response") or {}).get(a) for a in ("set", "append", "hide")):
            return COMPOSITE_REASON
        return None

    def request_headers_decided(self, plan: Any) -> frozenset[str]:
        headers: HeadersPlan = plan
        names = [n for n, _ in headers.request_set] + [n for n, _ in headers.request_append] + list(headers.request_remove)
        return frozenset(n.lower() for n in names)

    def answer_headers(self, plan: Any) -> tuple[tuple[str, Arg], ...]:
        headers: HeadersPlan = plan
        if not headers.always:
            return ()
        # Not Content-Type: the error answer is the gateway's JSON and nginx writes its type itself,
        # so a `set: {Content-Type: ...}` made every JSON error carry two (found by a hunt).
        return tuple(
            (name, quote(value, variables=True))
            for name, value in (*headers.response_set, *headers.response_append)
            if name.lower() != "content-type"
        )

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        maps = {m.var: m for p in instances for _, m in p.request_append}
        return tuple(maps[k] for k in sorted(maps))


# (headers policy, its position, `set` or `append`, response header) -> operations whose answers
# another kind writes that header on.
DoubledHeaders = dict[tuple[str, tuple[Any, ...], str, str], list[str]]


def record_doubled_response_headers(op: Any, missing: DoubledHeaders) -> None:
    """Record the response headers a headers policy of the operation plan ``op`` sets or appends
    while another kind of the same operation writes them too: the CORS headers, X-Cache-Status.
    ``add_header`` sends both lines; two `Access-Control-Allow-Origin` make browsers refuse every
    cross-origin answer (found by a hunt)."""
    from apigen.policies import registry  # the registry imports this module

    kept = {n.lower() for u in op.policies if u.kind == "headers" for n, _ in (*u.plan.response_set, *u.plan.response_append)}
    if not kept:
        return
    written: dict[str, str] = {}
    for use in op.policies:
        if use.kind == "cors":  # Vary is a list: a second line adds to it
            written.update((n.lower(), "cors") for n, _ in registry["cors"].answer_headers(use.plan) if n.lower() != "vary")
        elif use.kind == "cache":
            written["x-cache-status"] = "cache"
    for p in op.effective.of_kind("headers"):
        response = p.policy.config.get("response") or {}
        for action in ("set", "append"):
            for name in response.get(action) or {}:
                if name.lower() in kept and name.lower() in written:
                    key = (p.policy.name, tuple(p.policy.path), action, name)
                    if f"{op.api}.{op.operation_id}" not in missing.get(key, []):
                        missing.setdefault(key, []).append(f"{op.api}.{op.operation_id}")


def report_doubled_response_headers(missing: DoubledHeaders, diags: Diagnostics, source: PolicySource) -> None:
    for (name, path, action, header), ops in sorted(missing.items(), key=lambda item: item[0][::2] + item[0][3:]):
        listed = ", ".join(ops[:5]) + (f" and {len(ops) - 5} more" if len(ops) > 5 else "")
        diags.error(
            f"headers policy {name!r} adds response header {header}, which the gateway writes itself on "
            f"{listed} (a cors or cache policy there): nginx would send both lines",
            source.pos(*path, "response", action, header, key=True),
            hint="leave the header to the cors (or cache) policy, or do not attach both to these operations",
        )


register(Headers())
