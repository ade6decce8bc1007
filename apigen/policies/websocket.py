"""``kind: websocket`` - let an operation upgrade its connection to WebSocket.

nginx passes ``Upgrade``/``Connection`` upstream only when told to: the operation location sends
``Upgrade: $apigen_upgrade`` (``websocket`` when the client asked for a WebSocket, in any case;
nothing for any other protocol: ``Upgrade: h2c`` tunnelled past the gateway, found by a hunt)
and ``Connection: $apigen_connection_upgrade`` (``upgrade`` with a WebSocket upgrade, else what
the location would send anyway). Those headers are printed with
the operation's other proxy headers (``templates/_locations.j2``), because ``proxy_set_header``
in a location replaces every inherited one; the idle timeout becomes ``proxy_read_timeout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.policies import PolicyKind, register

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.effective import EffectiveOperation

DEFAULT_IDLE = "1h"


@dataclass(frozen=True)
class WebsocketPlan:
    idle_timeout: str


class Websocket(PolicyKind):
    name = "websocket"
    proxy_only = True
    order = 60

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        from apigen.lint.rules import duration_seconds

        idle = policy.config.get("idle_timeout", DEFAULT_IDLE)
        if duration_seconds(idle) == 0:
            # proxy_read_timeout 0 times out at once: every upgrade answered 504 (found by a hunt).
            diags.error(
                "idle_timeout 0 closes every websocket at once; give the longest silence a connection may keep",
                source.pos(*policy.path, "idle_timeout"),
            )

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        idle = policy.config.get("idle_timeout", DEFAULT_IDLE)
        return WebsocketPlan(f"{idle}s" if isinstance(idle, int) else str(idle))


register(Websocket())
