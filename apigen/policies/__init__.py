"""Policy kinds. Each kind is one module here plus one template partial in
``templates/policies/<kind>.conf.j2``, and one section of the policy schema.

A kind says which targets support it (:meth:`PolicyKind.check`), and turns a policy definition,
once attached to operations, into plan objects the partial renders at ``http``, ``server`` and
``location`` level. The partial defines the macros ``http(plans)``, ``server(plans)`` and
``location(p)``: ``plans`` are every instance of the kind in the gateway, ``p`` one instance on one
operation's location.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from apigen.diagnostics import Diagnostics

if TYPE_CHECKING:
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import GatewayConfig, Operation, PolicyDef


class PolicyKind:
    """Base class of a policy kind. Subclasses set ``name`` and override what they need."""

    name: ClassVar[str] = ""
    # Can several policies of this kind apply to one operation (they accumulate), or does a more
    # specific level replace a less specific one?
    accumulates: ClassVar[bool] = False
    # Order of the kind's directives in a location relative to other kinds (lower first).
    order: ClassVar[int] = 100

    @property
    def partial(self) -> str:
        return f"policies/{self.name}.conf.j2"

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        """Semantic and target checks beyond the JSON Schema."""

    def plan_location(self, policy: PolicyDef, op: Operation, config: GatewayConfig) -> Any:
        """The object the partial's ``location`` macro gets for ``policy`` on ``op``."""
        return policy.config

    def plan_http(self, instances: list[Any], config: GatewayConfig) -> Any:
        """The object for the ``http`` macro, given every location instance in the gateway."""
        return instances


registry: dict[str, PolicyKind] = {}


def register(kind: PolicyKind) -> PolicyKind:
    registry[kind.name] = kind
    return kind


def kinds() -> Mapping[str, PolicyKind]:
    return registry


# Import the kinds so they register themselves.
from apigen.policies import headers as _headers  # noqa: E402,F401
