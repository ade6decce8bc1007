"""Which policies, upstream and timeouts apply to each operation, and where each came from.

Levels, least to most specific: gateway, API, tag (in tag-name order), operation. A level's
``skip`` removes inherited policies by name or by kind; its ``use`` adds policies. For a kind that
does not accumulate (one JWT policy per operation, say), a more specific level replaces the kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from apigen.diagnostics import Diagnostics
from apigen.load.policy_loader import PolicySource
from apigen.model.types import Api, Attachment, DataPath, GatewayConfig, Operation, PolicyDef, Timeouts
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

    def of_kind(self, kind: str) -> tuple[EffectivePolicy, ...]:
        return tuple(p for p in self.policies if p.policy.kind == kind)


def attachments_for(api: Api, op: Operation, config: GatewayConfig) -> list[Attachment]:
    levels = [config.gateway.attachment, api.attachment]
    levels += [api.tags[t] for t in sorted(set(op.tags)) if t in api.tags]
    selected = [(sel, att) for sel, att in api.operations_attachments.items() if op in select_operations(api, sel)]
    levels += [att for _, att in sorted(selected, key=lambda x: x[0])]
    return levels


def resolve_operation(
    api: Api, op: Operation, config: GatewayConfig, diags: Diagnostics | None = None, source: PolicySource | None = None
) -> EffectiveOperation:
    chosen: list[EffectivePolicy] = []
    upstream, upstream_origin = api.upstream, "api"
    explicit = Timeouts()  # what the levels say; the chosen upstream's own timeouts fill the rest
    for att in attachments_for(api, op, config):
        chosen = [p for p in chosen if p.policy.name not in att.skip and p.policy.kind not in att.skip]
        at_level: set[str] = set()
        for index, name in enumerate(att.use):
            policy = config.policies.get(name)
            if policy is None:
                continue  # reported by the semantic checks
            kind = registry.get(policy.kind)
            if kind is not None and not kind.accumulates:
                if policy.kind in at_level and diags is not None and source is not None:
                    diags.error(
                        f"two {policy.kind} policies attached at the same level; only one applies",
                        source.pos(*att.path, "use", index),
                    )
                chosen = [p for p in chosen if p.policy.kind != policy.kind]
            at_level.add(policy.kind)
            chosen.append(EffectivePolicy(policy, att.level, att.path))
        if att.upstream:
            upstream, upstream_origin = att.upstream, att.level
        explicit = att.timeouts.merged_over(explicit)
    timeouts = explicit.merged_over(config.upstreams[upstream].timeouts if upstream in config.upstreams else Timeouts())
    order = {name: kind.order for name, kind in registry.items()}
    chosen.sort(key=lambda p: (order.get(p.policy.kind, 100), p.policy.kind))  # stable: level order kept
    if diags is not None and source is not None:
        _check_dry_run_mix(op, chosen, diags, source)
        _check_split_variants(chosen, upstream, config, diags, source)
    return EffectiveOperation(op, tuple(chosen), upstream, upstream_origin, timeouts)


def _check_split_variants(
    chosen: list[EffectivePolicy], upstream: str, config: GatewayConfig, diags: Diagnostics, source: PolicySource
) -> None:
    """A split picks the upstream group at request time, but the operation's location is written
    for the operation's own upstream: its scheme (http/https/grpc), TLS settings, timeouts,
    retries and keep-alive headers. A variant that differs in any of them would be proxied with
    the wrong ones (an https variant got plain HTTP, found live), so they must agree."""
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
                    ("tls", variant.tls, base.tls),
                    ("timeouts", variant.timeouts, base.timeouts),
                    ("retries", variant.retries, base.retries),
                    ("keepalive", variant.keepalive is not None, base.keepalive is not None),
                )
                if a != b
            ]
            key = f"split variant {name!r} differs from {upstream!r}"
            if not differs or any(d.message.startswith(key) for d in diags):
                continue
            # The scheme and TLS decide whether the variant is spoken to securely at all: error.
            report = diags.error if {"protocol", "tls"} & set(differs) else diags.warning
            report(
                f"{key}, the upstream of the operations the split applies to, in {', '.join(differs)}: "
                f"their locations are written for {upstream!r}, so {name!r} would be proxied with "
                f"{upstream!r}'s settings",
                source.pos(*p.policy.path, "weights", name, key=True),
                hint="give the variants the same protocol, tls, timeouts, retries and keepalive as the operation's upstream",
                **({} if report is diags.error else {"code": "split-variant-settings"}),
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
