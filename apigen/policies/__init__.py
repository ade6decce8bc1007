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
    from apigen.render.quoting import Arg


# The operationId of the stand-in operation for an API's unknown paths and undeclared methods
# (see apigen.plan.planner.UnmatchedPlan); its path is "".
UNMATCHED_OPERATION_ID = "_unmatched"


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
    # Does the kind guard an API's unknown paths and undeclared methods too? Then they are
    # answered (404/405) by an internal location holding the API-level policies of such kinds,
    # after its access phase, instead of by `return` before it.
    guards_unmatched: ClassVar[bool] = False
    # nginx variables the kind defines while in use (e.g. ``apigen_client``, ``apigen_variant``):
    # the access log and other kinds print them only when some kind in use provides them.
    provides: ClassVar[frozenset[str]] = frozenset()
    # Does the kind answer the request itself? Then its partial has a ``content(p)`` macro that
    # replaces the operation's proxy_pass (it must still end in js_content/proxy_pass, not return).
    content: ClassVar[bool] = False
    # Does the kind also apply to the CORS preflight answered for the operation (limits do; auth
    # must not, since browsers send preflights without credentials)?
    in_preflight: ClassVar[bool] = False
    # When a policy answers in the content phase (request validation), the operation gets a second,
    # forwarding location holding proxy_pass. Kinds whose directives shape proxying or responses
    # are rendered there too; a kind that only admits requests (authentication) may set this False
    # so it does not run twice.
    in_forward_location: ClassVar[bool] = True
    # Does the kind act only on the request the operation proxies (cache, split, rewrite, ...)?
    # Then it does nothing on a composite operation, which answers from its aggregate parts.
    proxy_only: ClassVar[bool] = False

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

    def combine(self, plans: list[Any]) -> list[Any]:
        """All location plans of this kind on one operation, in order; a kind whose directives may
        appear only once per location marks or merges them here."""
        return plans

    def error_headers(self, http_plan: Any) -> list[tuple[int, str, str]]:
        """``(status, header, variable)``: headers the gateway's JSON error answer for ``status``
        carries while the kind is in use (Retry-After on 429, say)."""
        return []

    def answer_headers(self, plan: Any) -> tuple[tuple[str, Arg], ...]:
        """``(header, nginx value)``: headers the operation's own answers carry (``add_header``
        in its location) that the gateway's error answers for it must carry too. Error answers
        are made in shared error locations, which select the values by the operation's internal
        location (``$apigen_target``), so they hold even for a 413 nginx raises before the
        operation location's directives run."""
        return ()

    def inactive_reason(self, policy: PolicyDef, eff: EffectiveOperation) -> str | None:
        """Why the policy, although attached, does nothing on this operation (None: it acts).
        `routes` and `explain` list such policies apart instead of as applied."""
        return COMPOSITE_REASON if self.proxy_only and is_composite(eff) else None

    def request_headers_decided(self, plan: Any) -> frozenset[str]:
        """Lower-case names of the request headers this plan sends upstream (or removes) itself:
        the gateway's default line for such a header (Host, X-Forwarded-For, ...) is left out,
        since nginx sends every `proxy_set_header` line it is given (a policy's Host went
        upstream next to the gateway's: two Host headers)."""
        return frozenset()

    def upstream_variable(self, plan: Any) -> str | None:
        """A variable naming the upstream group this operation proxies to (splits), or None."""
        return None

    def upstream_uri(self, plan: Any) -> str | None:
        """The URI part of ``proxy_pass``: a variable name, ``""`` for none (the possibly
        rewritten ``$uri`` is sent), or None to keep the default."""
        return None

    def upstream_zones(self, http_plan: Any) -> set[str]:
        """Upstream groups that need a shared-memory ``zone`` (NGINX Plus health checks)."""
        return set()

    def error_body_template(self, config: GatewayConfig) -> str | None:
        """The gateway-wide JSON error body template this kind sets, if any."""
        return None

    def needs_path_captures(self, plan: Any) -> bool:
        """Must the operation's route regex capture path parameters by name (``apigen_p<n>``)?"""
        return False

    def decoded_path_captures(self, plan: Any) -> tuple[str, ...]:
        """The path captures (``apigen_p<n>``) this operation sends upstream decoded, in a path
        nginx re-escapes without ``;``: a ``%3B`` in them would reach the upstream as a raw
        ``;`` (servlet path parameters), so the gateway answers 400 for it (planner)."""
        return ()

    def preflight_uri(self, plan: Any) -> str | None:
        """The internal location answering CORS preflights for this operation, or None."""
        return None

    def max_body_size(self, policy: PolicyDef) -> str | None:
        """The request body limit (``client_max_body_size``) this policy sets in the locations
        it applies to, or None (see planner.body_size_ceiling)."""
        return None

    def bundle_files(self, http_plan: Any, config: GatewayConfig, source_dir: Path) -> list[BundleFile]:
        """Extra files for the bundle; ``source_dir`` is the policy file's directory."""
        return []

    def load_modules(self, http_plan: Any) -> tuple[str, ...]:
        """Dynamic modules (``.so`` paths) the standalone nginx.conf must load for this kind."""
        return ()


COMPOSITE_REASON = "the operation is composite: it answers from its aggregate parts and never proxies itself"


def is_composite(eff: EffectiveOperation) -> bool:
    """Whether an aggregate policy answers the operation (its own upstream is never called)."""
    return any(p.policy.kind == "aggregate" for p in eff.policies)


def duration(value: Any) -> str:
    """A policy-file duration as an nginx time: an integer is seconds, a string is kept."""
    return f"{value}s" if isinstance(value, int) else str(value)


def size_bytes(value: Any) -> int:
    """A policy-file size (``512k``, ``10m``, ``1g``, an integer of bytes) in bytes."""
    text = str(value).strip().lower()
    unit = {"k": 1024, "m": 1024**2, "g": 1024**3}.get(text[-1:], 1)
    return int(text[:-1] if text[-1:] in "kmg" else text) * unit


def size_without_g(value: Any) -> str:
    """A policy-file size for a directive nginx parses with ``ngx_parse_size`` (buffer sizes,
    shared-memory zones), which knows ``k`` and ``m`` only: ``1g`` failed ``nginx -t``, it is
    ``1024m`` here. (Body limits and cache ``max_size`` are offsets, which take ``g``.)"""
    text = str(value).strip()
    return f"{int(text[:-1]) * 1024}m" if text[-1:] in "gG" else text


registry: dict[str, PolicyKind] = {}


def register(kind: PolicyKind) -> PolicyKind:
    registry[kind.name] = kind
    return kind


def kinds() -> Mapping[str, PolicyKind]:
    return registry


# Import the kinds so they register themselves.
from apigen.policies import aggregate as _aggregate  # noqa: E402,F401
from apigen.policies import api_key as _api_key  # noqa: E402,F401
from apigen.policies import basic_auth as _basic_auth  # noqa: E402,F401
from apigen.policies import body_limit as _body_limit  # noqa: E402,F401
from apigen.policies import cache as _cache  # noqa: E402,F401
from apigen.policies import claims as _claims  # noqa: E402,F401
from apigen.policies import cors as _cors  # noqa: E402,F401
from apigen.policies import errors as _errors  # noqa: E402,F401
from apigen.policies import headers as _headers  # noqa: E402,F401
from apigen.policies import health as _health  # noqa: E402,F401
from apigen.policies import ip_access as _ip_access  # noqa: E402,F401
from apigen.policies import jwt as _jwt  # noqa: E402,F401
from apigen.policies import mtls as _mtls  # noqa: E402,F401
from apigen.policies import openapi_security as _openapi_security  # noqa: E402,F401
from apigen.policies import rate_limit as _rate_limit  # noqa: E402,F401
from apigen.policies import rewrite as _rewrite  # noqa: E402,F401
from apigen.policies import split as _split  # noqa: E402,F401
from apigen.policies import validation as _validation  # noqa: E402,F401
from apigen.policies import waf as _waf  # noqa: E402,F401
from apigen.policies import websocket as _websocket  # noqa: E402,F401
