"""``kind: cors`` - cross-origin requests, preflights answered by the gateway.

Allowed origins are an exact list (a ``map`` of ``$http_origin``: no regexes, nothing
unanchored). Actual requests get ``Access-Control-Allow-Origin`` only for a listed origin.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) on a path whose spec has no
OPTIONS operation is dispatched, by the requested method, to an internal preflight location of
that operation. It carries the operation's limits (kinds with ``in_preflight``: a preflight
must not bypass rate limits), never its authentication (browsers send preflights without
credentials), and never reaches the upstream. Because ``return`` runs before ``limit_req`` (the
phase trap), the preflight location ends in ``try_files`` (precontent phase, after the limits),
which falls through to a named location that answers 204 with the CORS headers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.plan.routing import method_sort_key
from apigen.policies import PolicyKind, register, registry
from apigen.policies.rate_limit import var_stem
from apigen.render.quoting import Arg, quote

if TYPE_CHECKING:
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation

PREFLIGHT_PREFIX = "@apigen_preflight/"  # named: a dispatch target (planner.INTERNAL_OP_PREFIX)
DEFAULT_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")


@dataclass(frozen=True)
class CorsOrigins:
    """http level: the origin map of one policy."""

    policy: str
    origin_var: str
    origins: tuple[str, ...]
    credentials_var: str | None


@dataclass(frozen=True)
class CorsUse:
    origins: CorsOrigins
    methods: str  # "GET, HEAD, POST": the path's methods in the spec
    headers: str
    expose: str
    max_age: int
    preflight_uri: str
    preflight_name: str  # the named location answering 204
    limits: tuple[tuple[str, Any], ...]  # (partial, location plan) of the operation's limits
    operation: str


def _slug(text: str) -> str:
    # ASCII only: the name is also a named location, a plain nginx token (`ñ` crashed the build).
    return "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "_-" else "_" for ch in text)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_origin(origin: str) -> str:
    """An origin as browsers serialize it (RFC 6454 6.1): scheme and host in lower case, no
    default port. ``https://App.example.com:443`` never matched the ``Origin`` header (a map
    key ignores case, but the echoed value did not, and the port was compared as written)."""
    scheme, _, authority = origin.partition("://")
    host, _, port = authority.partition(":")
    scheme, host = scheme.lower(), host.lower()
    if port and int(port) != _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}:{int(port)}"
    return f"{scheme}://{host}"


def _policy_methods(policy: PolicyDef, api: Api, op: Any, config: GatewayConfig) -> set[str]:
    """The methods of ``op``'s path whose operations this CORS policy applies to: a preflight
    must not allow a method another operation answers without it (browsers cache a preflight per
    method and then send that method without asking again)."""
    from apigen.plan.effective import resolve_operation

    methods = set()
    for other in api.operations:
        if other.path != op.path:
            continue
        if other is op or any(p.policy.name == policy.name for p in resolve_operation(api, other, config).policies):
            methods.add(other.method)
    return methods


class Cors(PolicyKind):
    name = "cors"
    order = 1

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        cfg = policy.config
        stem = var_stem("cors", policy.name)
        origins = CorsOrigins(
            policy=policy.name,
            origin_var=f"{stem}_origin",
            origins=tuple(sorted({canonical_origin(o) for o in cfg["origins"]})),
            credentials_var=f"{stem}_credentials" if cfg.get("credentials") else None,
        )
        op = eff.op
        methods = _policy_methods(policy, api, op, config)
        if "GET" in methods:
            methods.add("HEAD")
        digest = hashlib.sha256(f"{api.name}\0{op.operation_id}".encode()).hexdigest()[:8]
        name = f"{_slug(api.name)}/{_slug(op.operation_id)}_{digest}"
        limits: list[tuple[str, Any]] = []
        by_kind: dict[str, list[Any]] = {}
        for p in eff.policies:
            kind = registry.get(p.policy.kind)
            if kind is not None and kind.in_preflight:
                by_kind.setdefault(p.policy.kind, []).append(kind.plan_location(p.policy, eff, api, config))
        for kind_name, plans in by_kind.items():
            limits += [(registry[kind_name].partial, plan) for plan in registry[kind_name].combine(plans)]
        return CorsUse(
            origins=origins,
            methods=", ".join(sorted(methods, key=method_sort_key)),
            headers=", ".join(cfg.get("headers") or DEFAULT_HEADERS),
            expose=", ".join(cfg.get("expose") or ()),
            max_age=int(cfg.get("max_age", 600)),
            preflight_uri=PREFLIGHT_PREFIX + name,
            preflight_name="@apigen_preflight_" + name.replace("/", "_"),
            limits=tuple(limits),
            operation=f"{api.name}.{op.operation_id}",
        )

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        origins = {u.origins.policy: u.origins for u in instances}
        preflights = {u.preflight_uri: u for u in instances}
        return (tuple(origins[k] for k in sorted(origins)), tuple(preflights[k] for k in sorted(preflights)))

    def preflight_uri(self, plan: Any) -> str | None:
        return plan.preflight_uri

    def answer_headers(self, plan: Any) -> tuple[tuple[str, Arg], ...]:
        """The gateway's own error answers (429, 413, 502, ...) carry the operation's CORS
        headers, or a browser could not read them (and a shared cache could serve one origin's
        error to another without ``Vary``)."""
        use: CorsUse = plan
        headers = [("Access-Control-Allow-Origin", Arg("$" + use.origins.origin_var))]
        if use.origins.credentials_var:
            headers.append(("Access-Control-Allow-Credentials", Arg("$" + use.origins.credentials_var)))
        if use.expose:
            headers.append(("Access-Control-Expose-Headers", quote(use.expose, variables=True)))
        headers.append(("Vary", quote("Origin")))
        return tuple(headers)


register(Cors())
