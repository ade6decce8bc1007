"""``kind: body_limit`` - the largest request body an API or operation accepts (JSON 413 above),
and how long the client may pause while sending it (``timeout``: nginx then closes the
connection; it sends no answer for a body read timeout)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.policies import PolicyKind, duration, register

if TYPE_CHECKING:
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.effective import EffectiveOperation


@dataclass(frozen=True)
class BodyLimitPlan:
    max: str | None
    timeout: str | None


class BodyLimit(PolicyKind):
    name = "body_limit"
    order = 20

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        cfg = policy.config
        return BodyLimitPlan(
            max=self.max_body_size(policy),
            timeout=duration(cfg["timeout"]) if "timeout" in cfg else None,
        )

    def max_body_size(self, policy: PolicyDef) -> str | None:
        return str(policy.config["max"]) if "max" in policy.config else None


register(BodyLimit())
