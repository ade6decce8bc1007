"""``kind: headers`` - set/remove request headers sent upstream, set/hide response headers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.diagnostics import Diagnostics
from apigen.policies import PolicyKind, register
from apigen.render.quoting import MAX_TOKEN_BYTES, token_bytes

if TYPE_CHECKING:
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.effective import EffectiveOperation


@dataclass(frozen=True)
class HeadersPlan:
    request_set: tuple[tuple[str, str], ...]
    request_remove: tuple[str, ...]
    response_set: tuple[tuple[str, str], ...]
    response_hide: tuple[str, ...]


# RFC 9110 field values: no CR, LF, NUL or other control characters (HTAB is allowed). nginx would
# send a decoded `\n` as is, splitting the header block.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Headers(PolicyKind):
    name = "headers"
    accumulates = True
    order = 50

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        for side in ("request", "response"):
            for name, value in ((policy.config.get(side) or {}).get("set") or {}).items():
                m = _BAD_VALUE_CHAR.search(value)
                if not m and token_bytes(value, variables=True) > MAX_TOKEN_BYTES:
                    diags.error(
                        f"header {name} value is too long for an nginx configuration token",
                        source.pos(*policy.path, side, "set", name),
                    )
                if m:
                    diags.error(
                        f"header {name} value has a control character {m.group()!r} at offset {m.start()}",
                        source.pos(*policy.path, side, "set", name),
                    )

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        req = policy.config.get("request") or {}
        resp = policy.config.get("response") or {}
        return HeadersPlan(
            request_set=tuple(sorted((req.get("set") or {}).items())),
            request_remove=tuple(sorted(req.get("remove") or ())),
            response_set=tuple(sorted((resp.get("set") or {}).items())),
            response_hide=tuple(sorted(resp.get("hide") or ())),
        )


register(Headers())
