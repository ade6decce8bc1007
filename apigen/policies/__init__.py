"""Policy kinds. Each kind is one module here plus one template partial in
``templates/policies/<kind>.conf.j2``, and one section of the policy schema.

A kind says which targets support it (:meth:`PolicyKind.check`), and turns a policy definition,
once attached to operations, into plan objects the partial renders at ``http``, ``server`` and
``location`` level. The partial defines the macros ``http(g)``, ``server(g)`` and
``location(p)``: ``g`` is what :meth:`PolicyKind.plan_http` made of every instance of the kind in
the gateway, ``p`` one instance on one operation's internal location. A kind may also add files
to the bundle (njs modules, key files) with :meth:`PolicyKind.bundle_files`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from apigen.diagnostics import Diagnostics

if TYPE_CHECKING:
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation


class BundleFile:
    """A file a policy kind adds to the bundle (``mode`` 0o600 for secrets)."""

    def __init__(self, path: str, text: str, mode: int | None = None) -> None:
        self.path, self.text, self.mode = path, text, mode


class PolicyKind:
    """Base class of a policy kind. Subclasses set ``name`` and override what they need."""

    name: ClassVar[str] = ""
    # Can several policies of this kind apply to one operation (they accumulate), or does a more
    # specific level replace a less specific one?
    accumulates: ClassVar[bool] = False
    # Order of the kind's directives in a location relative to other kinds (lower first).
    order: ClassVar[int] = 100
    # Does the kind's output need the njs module loaded (``load_module ...js...``)?
    requires_njs: ClassVar[bool] = False
    # When a policy answers in the content phase (request validation), the operation gets a second,
    # forwarding location holding proxy_pass. Kinds whose directives shape proxying or responses
    # are rendered there too; a kind that only admits requests (authentication) may set this False
    # so it does not run twice.
    in_forward_location: ClassVar[bool] = True

    @property
    def partial(self) -> str:
        return f"policies/{self.name}.conf.j2"

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        """Semantic and target checks beyond the JSON Schema."""

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        """The object the partial's ``location`` macro gets for ``policy`` on ``eff.op``."""
        return policy.config

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        """The object for the ``http`` and ``server`` macros, given every location instance.
        Files the kind needs at run time (keys, key lists) go through ``assets``, which copies
        them into the bundle and reports missing ones at their policy line."""
        return instances

    def bundle_files(self, http_plan: Any, config: GatewayConfig, source_dir: Path) -> list[BundleFile]:
        """Extra files for the bundle; ``source_dir`` is the policy file's directory."""
        return []

    def load_modules(self, http_plan: Any) -> tuple[str, ...]:
        """Dynamic modules (``.so`` paths) the standalone nginx.conf must load for this kind."""
        return ()


registry: dict[str, PolicyKind] = {}


def register(kind: PolicyKind) -> PolicyKind:
    registry[kind.name] = kind
    return kind


def kinds() -> Mapping[str, PolicyKind]:
    return registry


# Import the kinds so they register themselves.
from apigen.policies import headers as _headers  # noqa: E402,F401
from apigen.policies import validation as _validation  # noqa: E402,F401
from apigen.policies import waf as _waf  # noqa: E402,F401
