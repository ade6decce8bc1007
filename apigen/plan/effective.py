"""Which policies, upstream and timeouts apply to each operation, and where each came from.

Levels, least to most specific: gateway, API, tags, operation. An operation's tags are one level
(siblings), as are several `operations:` selectors naming one operation. A level's ``skip``
removes inherited policies by name or by kind; its ``use`` adds policies. For a kind that does not
accumulate (one JWT policy per operation, say), a more specific level replaces the kind; two at
one level are an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from apigen.diagnostics import Diagnostics
from apigen.load.policy_loader import PolicySource
from apigen.model.types import Api, Attachment, DataPath, GatewayConfig, Operation, PolicyDef, Timeouts
from apigen.plan.tls import tls_as_sent
from apigen.policies import registry
from apigen.validate.semantic import select_operations


@dataclass(frozen=True)
class EffectivePolicy:
    policy: PolicyDef
    level: str  # gateway | api | tag | operation
    origin: DataPath  # the attachment in the policy file that brought it


@dataclass(frozen=True)
class EffectiveOperation:
    op: Operation
    policies: tuple[EffectivePolicy, ...]
    upstream: str
    upstream_origin: str  # level that chose the upstream
    timeouts: Timeouts
    grpc: bool = False  # the upstream speaks gRPC: the gateway's errors are gRPC statuses

    def of_kind(self, kind: str) -> tuple[EffectivePolicy, ...]:
        return tuple(p for p in self.policies if p.policy.kind == kind)


def attachments_for(api: Api, op: Operation, config: GatewayConfig) -> list[list[Attachment]]:
    """The levels of ``op``, least specific first, each a list of attachments: the tags of an
    operation are one level, and so are several `operations:` selectors naming it (siblings: none
    of them is more specific than another, so none may skip or replace what another attaches)."""
    levels = [[config.gateway.attachment], [api.attachment]]
    levels.append([api.tags[t] for t in sorted(set(op.tags)) if t in api.tags])
    selected = [(sel, att) for sel, att in api.operations_attachments.items() if op in select_operations(api, sel)]
    levels.append([att for _, att in sorted(selected, key=lambda x: x[0])])
    return [level for level in levels if level]


_LEVEL_RANK = {"gateway": 0, "api": 1, "tag": 2, "operation": 3}


def resolve_operation(
    api: Api, op: Operation, config: GatewayConfig, diags: Diagnostics | None = None, source: PolicySource | None = None
) -> EffectiveOperation:
    chosen: list[EffectivePolicy] = []
    upstream, upstream_origin, upstream_at = api.upstream, "api", api.path
    explicit = Timeouts()  # what the levels say; the chosen upstream's own timeouts fill the rest
    report = diags is not None and source is not None
    for level in attachments_for(api, op, config):
        # A level's skips remove what less specific levels attached, never a sibling's policies.
        skips = {name for att in level for name in att.skip}
        chosen = [p for p in chosen if p.policy.name not in skips and p.policy.kind not in skips]
        at_level: set[str] = set()
        names_at_level: set[str] = set()
        level_upstream: Attachment | None = None
        for att in level:
            for index, name in enumerate(att.use):
                policy = config.policies.get(name)
                if policy is None or name in names_at_level:
                    continue  # reported by the semantic checks; or attached by a sibling already
                names_at_level.add(name)
                kind = registry.get(policy.kind)
                if kind is not None and not kind.accumulates:
                    if policy.kind in at_level and report:
                        diags.error(  # type: ignore[union-attr]
                            f"two {policy.kind} policies attached at the same level to {op.method} {op.path} "
                            f"({op.operation_id}); only one applies",
                            source.pos(*att.path, "use", index),  # type: ignore[union-attr]
                            hint="tags of one operation (and selectors naming it) are one level: attach one of them",
                        )
                    chosen = [p for p in chosen if p.policy.kind != policy.kind]
                at_level.add(policy.kind)
                chosen.append(EffectivePolicy(policy, att.level, att.path))
            if att.upstream:
                if level_upstream is not None and level_upstream.upstream != att.upstream and report:
                    diags.error(  # type: ignore[union-attr]
                        f"{op.method} {op.path} ({op.operation_id}) gets upstream {level_upstream.upstream!r} and "
                        f"{att.upstream!r} from the same level; only one applies",
                        source.pos(*att.path, "upstream"),  # type: ignore[union-attr]
                    )
                level_upstream = att
                upstream, upstream_origin, upstream_at = att.upstream, att.level, att.path
            explicit = att.timeouts.merged_over(explicit)
    if report:
        _check_upstream_under_split(op, chosen, upstream, upstream_origin, upstream_at, diags, source)  # type: ignore[arg-type]
    timeouts = explicit.merged_over(config.upstreams[upstream].timeouts if upstream in config.upstreams else Timeouts())
    order = {name: kind.order for name, kind in registry.items()}
    chosen.sort(key=lambda p: (order.get(p.policy.kind, 100), p.policy.kind))  # stable: level order kept
    if diags is not None and source is not None:
        _check_dry_run_mix(op, chosen, diags, source)
        _check_split_variants(chosen, upstream, config, diags, source)
    grpc = upstream in config.upstreams and config.upstreams[upstream].is_grpc
    return EffectiveOperation(op, tuple(chosen), upstream, upstream_origin, timeouts, grpc)


def _check_upstream_under_split(
    op: Operation,
    chosen: list[EffectivePolicy],
    upstream: str,
    origin: str,
    at: DataPath,
    diags: Diagnostics,
    source: PolicySource,
) -> None:
    """An `upstream:` more specific than the split that applies: the split picks the upstream
    group at request time, so the operation never reached it (found by a hunt, while `routes` and
    `explain` named it)."""
    if origin not in ("tag", "operation"):
        return  # the API's own upstream (required) is what a gateway- or API-wide split replaces
    for p in chosen:
        if p.policy.kind == "split" and _LEVEL_RANK.get(origin, 0) > _LEVEL_RANK.get(p.level, 0):
            variants = ", ".join(sorted(p.policy.config.get("weights") or {}))
            diags.error(
                f"{op.method} {op.path} ({op.operation_id}): upstream {upstream!r} from the {origin} level is "
                f"never used: split {p.policy.name!r} (from the {p.level} level) picks among {variants}",
                source.pos(*at, "upstream"),
                hint=f"skip the split where the upstream is set (skip: [{p.policy.name}]), or drop that upstream",
            )


def _check_split_variants(
    chosen: list[EffectivePolicy], upstream: str, config: GatewayConfig, diags: Diagnostics, source: PolicySource
) -> None:
    """A split picks the upstream group at request time, but the operation's location is written
    for the operation's own upstream: its scheme (http/https/grpc), TLS settings, timeouts,
    retries and keep-alive headers. A variant that differs in any of them would be proxied with
    the wrong ones (an https variant got plain HTTP, found live), so they must agree. TLS is
    compared as sent (the position in the policy file made two identical `tls` blocks differ, so
    no split between https upstreams compiled; the default server name, the first server's
    host, made a variant be verified against another's name; both found by a hunt)."""
    base = config.upstreams.get(upstream)
    if base is None:
        return
    for p in chosen:
        if p.policy.kind != "split":
            continue
        for name in sorted(p.policy.config.get("weights") or {}):
            variant = config.upstreams.get(name)
            if variant is None or name == upstream:
                continue
            differs = [
                what
                for what, a, b in (
                    ("protocol", variant.protocol, base.protocol),
                    ("tls", tls_as_sent(variant), tls_as_sent(base)),
                    ("timeouts", variant.timeouts, base.timeouts),
                    ("retries", variant.retries, base.retries),
                    ("keepalive", variant.keepalive is not None, base.keepalive is not None),
                )
                if a != b
            ]
            key = f"split variant {name!r} differs from {upstream!r}"
            if not differs or any(d.message.startswith(key) for d in diags):
                continue
            hint = "give the variants the same protocol, tls, timeouts, retries and keepalive as the operation's upstream"
            mine, theirs = tls_as_sent(variant), tls_as_sent(base)
            if mine and theirs and mine[2] != theirs[2]:
                hint = (
                    f"{name!r} would be sent and verified against the server name {theirs[2]!r}, not {mine[2]!r}: "
                    "set tls.server_name on both to a name every variant's certificate carries"
                )
            # The scheme and TLS decide whether the variant is spoken to securely at all: error
            # (`report is diags.error` was never true: each access makes a new bound method).
            if {"protocol", "tls"} & set(differs):
                report, extra = diags.error, {}
            else:
                report, extra = diags.warning, {"code": "split-variant-settings"}
            report(
                f"{key}, the upstream of the operations the split applies to, in {', '.join(differs)}: "
                f"their locations are written for {upstream!r}, so {name!r} would be proxied with "
                f"{upstream!r}'s settings",
                source.pos(*p.policy.path, "weights", name, key=True),
                hint=hint,
                **extra,
            )


_DRY_RUN_KINDS = {"rate_limit": "limit_req_dry_run", "conn_limit": "limit_conn_dry_run"}


def _check_dry_run_mix(op: Operation, chosen: list[EffectivePolicy], diags: Diagnostics, source: PolicySource) -> None:
    """nginx's dry-run switch is per location, not per zone: a dry-run limit on an operation
    that also has an enforcing limit of the same kind would silently stop that one rejecting."""
    for kind, directive in _DRY_RUN_KINDS.items():
        limits = [p for p in chosen if p.policy.kind == kind]
        dry = [p for p in limits if p.policy.config.get("dry_run")]
        enforcing = [p.policy.name for p in limits if not p.policy.config.get("dry_run")]
        if dry and enforcing:
            diags.error(
                f"dry_run {kind} {dry[0].policy.name!r} applies to {op.method} {op.path} "
                f"({op.operation_id}), which also has the enforcing {', '.join(map(repr, enforcing))}: "
                f"nginx's {directive} is per location, so those would never reject either",
                source.pos(*dry[0].policy.path, "dry_run"),
                hint="use dry_run on every limit of these operations, or on none (skip: the dry-run policy there)",
            )
