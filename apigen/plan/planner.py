"""Turn the IR into the plan the templates render: every name, order and token decided here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apigen import __version__
from apigen.diagnostics import Diagnostics
from apigen.load.policy_loader import PolicySource
from apigen.model.types import Api, GatewayConfig, Operation, Timeouts, Upstream
from apigen.plan.assets import Asset, AssetCollector
from apigen.plan.effective import EffectiveOperation, resolve_operation
from apigen.plan.routing import RouteGroup, RouteTable, build_route_table
from apigen.policies import registry
from apigen.render.quoting import Arg, bare, quote
from apigen.targets import directive_available

INTERNAL_OP_PREFIX = "/_apigen/op/"
METHOD_NOT_ALLOWED_URI = "/_apigen/405"

# Every status nginx itself can produce for an API client gets a JSON body.
ERROR_STATUSES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    414: "URI Too Long",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class PolicyUse:
    kind: str
    partial: str
    plan: Any


@dataclass(frozen=True)
class OperationPlan:
    api: str
    operation_id: str
    method: str
    path: str
    internal_uri: str
    upstream: str
    upstream_uri: str  # nginx expression appended to http://<upstream>
    timeouts: Timeouts
    retries_on: tuple[str, ...]
    retries_tries: int | None
    retries_timeout: str | None
    keepalive: bool
    policies: tuple[PolicyUse, ...]
    effective: EffectiveOperation


@dataclass(frozen=True)
class ApiPlan:
    name: str
    file: str
    base_path: str
    exact: tuple[tuple[str, str], ...]  # (path, route_id)
    groups: tuple[RouteGroup, ...]
    operations: tuple[OperationPlan, ...]
    strip_map: tuple[str, str] | None  # (regex on $request_uri, variable) when strip_base_path


@dataclass(frozen=True)
class MapEntry:
    key: str
    value: str


@dataclass(frozen=True)
class Plan:
    version: str
    inputs: tuple[tuple[str, str], ...]
    config: GatewayConfig
    routes: RouteTable
    upstreams: tuple[tuple[Upstream, tuple[Arg, ...]], ...]  # with the balancing directive's tokens
    apis: tuple[ApiPlan, ...]
    root_groups: tuple[RouteGroup, ...]  # groups no API owns (always `/`)
    dispatch: tuple[MapEntry, ...]
    allow: tuple[MapEntry, ...]
    map_hash_bucket_size: int
    map_hash_max_size: int
    error_statuses: tuple[tuple[int, str], ...]
    uses_njs: bool
    policy_http: tuple[PolicyUse, ...]  # one per kind in use: its http-level plan
    include_dir: str
    source_dir: Path  # the policy file's directory: relative paths in policies start here
    assets: tuple[Asset, ...]  # files copied into the bundle (certificates, keys, key lists)
    tls_certificate: str | None  # bundle paths of the gateway's TLS certificate and key
    tls_key: str | None
    reject_unknown_hosts: bool  # a default server answers 444 to host names not in server_name
    ssl_reject_handshake: bool  # the target can refuse TLS handshakes for unknown names

    def include(self, relative: str) -> str:
        return f"{self.include_dir.rstrip('/')}/{relative}" if self.include_dir else relative


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "op"


def _next_pow2(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


def balance_tokens(balance: str) -> tuple[Arg, ...]:
    """``least_conn`` -> (least_conn,); ``hash $remote_addr consistent`` -> (hash, "$remote_addr",
    consistent). The hash key is made of variables by schema, so it is evaluated on purpose."""
    if balance == "round_robin":
        return ()
    words = balance.split(" ")
    if words[0] == "hash":
        return (bare("hash"), quote(words[1]), *(bare(w) for w in words[2:]))
    return tuple(bare(w) for w in words)


def _operation_plan(api: Api, op: Operation, eff: EffectiveOperation, config: GatewayConfig, uri: str) -> OperationPlan:
    upstream: Upstream = config.upstreams[eff.upstream]
    retries = upstream.retries
    uses = tuple(
        PolicyUse(
            p.policy.kind, registry[p.policy.kind].partial, registry[p.policy.kind].plan_location(p.policy, eff, api, config)
        )
        for p in eff.policies
        if p.policy.kind in registry
    )
    upstream_uri = (
        f"apigen_strip_{slug(api.name).replace('-', '_').replace('.', '_')}"
        if api.strip_base_path and api.base_path
        else "request_uri"
    )
    return OperationPlan(
        api=api.name,
        operation_id=op.operation_id,
        method=op.method,
        path=op.path,
        internal_uri=uri,
        upstream=eff.upstream,
        upstream_uri=upstream_uri,
        timeouts=eff.timeouts,
        retries_on=retries.on if retries else (),
        retries_tries=retries.tries if retries else None,
        retries_timeout=retries.timeout if retries else None,
        keepalive=bool(upstream.keepalive),
        policies=uses,
        effective=eff,
    )


def make_plan(config: GatewayConfig, diags: Diagnostics, source: PolicySource | None = None) -> Plan:
    table = build_route_table(config, diags)
    assets = AssetCollector(source, diags) if source is not None else None
    tls_cert = tls_key = None
    tls = config.gateway.tls
    if tls is not None and assets is not None:
        cert = assets.file(tls.certificate, (*tls.path, "certificate"), directory="tls", secret=False)
        key = assets.file(tls.key, (*tls.path, "key"), directory="secrets", secret=True)
        tls_cert = cert.bundle_path if cert else None
        tls_key = key.bundle_path if key else None
    # Internal location of each operation: /_apigen/op/<api>/<operationId>, made unique.
    internal: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    for api in config.apis:
        for op in api.operations:
            base = f"{INTERNAL_OP_PREFIX}{slug(api.name)}/{slug(op.operation_id)}"
            uri, n = base, 2
            while uri in used:
                uri, n = f"{base}_{n}", n + 1
            used.add(uri)
            internal[(api.name, op.operation_id)] = uri

    routed = {(op.api, op.operation_id) for _, _, op in table.operations()}
    api_plans = []
    for api in config.apis:
        ops = []
        for op in api.operations:
            if (api.name, op.operation_id) not in routed:
                continue  # an alias of another operation's route: never reached
            eff = resolve_operation(api, op, config, diags, source)
            ops.append(_operation_plan(api, op, eff, config, internal[(api.name, op.operation_id)]))
        ops.sort(key=lambda p: p.internal_uri)
        strip = None
        if api.strip_base_path and api.base_path:
            var = f"apigen_strip_{slug(api.name).replace('-', '_').replace('.', '_')}"
            strip = ("~^" + re.escape(api.base_path).replace("\\/", "/") + "(/.*)$", var)
        api_plans.append(
            ApiPlan(
                name=api.name,
                file=f"api_conf.d/{slug(api.name)}.conf",
                base_path=api.base_path,
                exact=tuple((r.template.text, r.route_id) for r in table.exact if r.api == api.name),
                groups=tuple(g for g in table.groups if g.api == api.name),
                operations=tuple(ops),
                strip_map=strip,
            )
        )

    dispatch = []
    allow = []
    for route in table.routes:
        allow.append(MapEntry(route.route_id, route.allow))
        for method, op in route.operations:
            dispatch.append(MapEntry(f"{route.route_id} {method}", internal[(op.api, op.operation_id)]))
    # nginx sizes map buckets in bytes: a non-ASCII path takes up to 4 per character.
    longest = max((len(e.key.encode()) for e in (*dispatch, *allow)), default=16)
    kinds_in_use = sorted({u.kind for a in api_plans for o in a.operations for u in o.policies})
    policy_http = []
    for kind_name in kinds_in_use:
        kind = registry[kind_name]
        instances = [u.plan for a in api_plans for o in a.operations for u in o.policies if u.kind == kind_name]
        policy_http.append(PolicyUse(kind_name, kind.partial, kind.plan_http(instances, config, assets)))
    return Plan(
        version=__version__,
        inputs=config.input_digests,
        config=config,
        routes=table,
        upstreams=tuple((u, balance_tokens(u.balance)) for u in config.upstreams.values()),
        apis=tuple(api_plans),
        root_groups=tuple(g for g in table.groups if g.api is None),
        dispatch=tuple(dispatch),
        allow=tuple(allow),
        map_hash_bucket_size=max(128, _next_pow2(2 * (longest + 16))),
        map_hash_max_size=max(4096, _next_pow2(len(dispatch) * 4)),
        error_statuses=tuple(sorted(ERROR_STATUSES.items())),
        uses_njs=any(registry[u.kind].requires_njs for u in policy_http),
        policy_http=tuple(policy_http),
        include_dir=config.gateway.include_dir,
        source_dir=source.base_dir if source is not None else Path("."),
        assets=tuple(sorted(assets.assets.values(), key=lambda a: a.bundle_path)) if assets else (),
        tls_certificate=tls_cert,
        tls_key=tls_key,
        reject_unknown_hosts="_" not in config.gateway.server_names,
        ssl_reject_handshake=directive_available(config.target, "ssl_reject_handshake"),
    )
