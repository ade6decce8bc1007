"""``kind: body_limit`` - the largest request body an API or operation accepts (JSON 413 above)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apigen.policies import PolicyKind, register

if TYPE_CHECKING:
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.effective import EffectiveOperation


class BodyLimit(PolicyKind):
    name = "body_limit"
    order = 20

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        value = policy.config["max"]
        return str(value)


register(BodyLimit())
