"""``kind: headers`` - set/remove request headers sent upstream, set/hide response headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.policies import PolicyKind, register

if TYPE_CHECKING:
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.effective import EffectiveOperation


@dataclass(frozen=True)
class HeadersPlan:
    request_set: tuple[tuple[str, str], ...]
    request_remove: tuple[str, ...]
    response_set: tuple[tuple[str, str], ...]
    response_hide: tuple[str, ...]


class Headers(PolicyKind):
    name = "headers"
    accumulates = True
    order = 50

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
