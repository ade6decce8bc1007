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
from apigen.policies import PolicyKind, register
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


@dataclass(frozen=True)
class HeadersPlan:
    request_set: tuple[tuple[str, str], ...]
    request_remove: tuple[str, ...]
    response_set: tuple[tuple[str, str], ...]
    response_hide: tuple[str, ...]
    request_append: tuple[tuple[str, AppendMap], ...] = ()
    response_append: tuple[tuple[str, str], ...] = ()
    always: bool = True


def _request_names(plan: HeadersPlan) -> list[str]:
    """Request headers ``plan`` decides alone (set, remove); an append adds to what others do."""
    return [n for n, _ in plan.request_set] + list(plan.request_remove)


def _response_names(plan: HeadersPlan) -> list[str]:
    return [n for n, _ in plan.response_set]


def _append_map(header: str, value: str) -> AppendMap:
    source = "http_" + re.sub(r"[^a-z0-9_]", "_", header.lower())
    digest = hashlib.sha256(f"{header}\0{value}".encode()).hexdigest()[:10]
    literal = str(quote(value, variables=True))  # '"..."' with dollars neutralised; str: no Markup escaping
    return AppendMap(source, f"apigen_hdr_{digest}", Arg(literal), Arg('"${' + source + "}, " + literal[1:]))


# RFC 9110 field values: no CR, LF, NUL or other control characters (HTAB is allowed). nginx would
# send a decoded `\n` as is, splitting the header block.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Headers(PolicyKind):
    name = "headers"
    accumulates = True
    order = 50

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
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
        but a header a later (more specific) policy sets or removes is that policy's alone: nginx
        would otherwise send both values (found by a hunt: two X-Frame-Options). Appends add."""
        out = []
        for i, plan in enumerate(plans):
            later_request = {n.lower() for p in plans[i + 1 :] for n in _request_names(p)}
            later_response = {n.lower() for p in plans[i + 1 :] for n in _response_names(p)}

            def keep_request(name: str, later: set[str] = later_request) -> bool:
                return name.lower() not in later

            def keep_response(name: str, later: set[str] = later_response) -> bool:
                return name.lower() not in later

            out.append(
                replace(
                    plan,
                    request_set=tuple(e for e in plan.request_set if keep_request(e[0])),
                    request_remove=tuple(n for n in plan.request_remove if keep_request(n)),
                    request_append=tuple(e for e in plan.request_append if keep_request(e[0])),
                    response_set=tuple(e for e in plan.response_set if keep_response(e[0])),
                    response_append=tuple(e for e in plan.response_append if keep_response(e[0])),
                )
            )
        return out

    def answer_headers(self, plan: Any) -> tuple[tuple[str, Arg], ...]:
        headers: HeadersPlan = plan
        if not headers.always:
            return ()
        return tuple((name, quote(value, variables=True)) for name, value in (*headers.response_set, *headers.response_append))

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        maps = {m.var: m for p in instances for _, m in p.request_append}
        return tuple(maps[k] for k in sorted(maps))


register(Headers())
