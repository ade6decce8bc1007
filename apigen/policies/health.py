"""``kind: health`` - active health checks of an operation's upstream (NGINX Plus only).

NGINX OSS has passive checks only: ``upstreams.<name>.passive_health`` (max_fails /
fail_timeout), ``backup`` servers and ``retries`` (proxy_next_upstream conditions, tries,
timeout) already cover them, so on an OSS target this kind is a validation error that says so.

On Plus, each (policy, upstream) pair gets one named location at server level that proxies to the
upstream and holds ``health_check`` (so probes do not multiply with the number of operations), a
``match`` block for what a healthy answer looks like, and the upstream gets a shared-memory
``zone`` (health checks and ``slow_start`` need one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.policies import PolicyKind, duration, register
from apigen.policies.rate_limit import var_stem
from apigen.render.quoting import Arg, token
from apigen.targets import unavailable_reason

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation


@dataclass(frozen=True)
class HealthMatch:
    name: str
    status: tuple[Arg, ...]
    headers: tuple[tuple[str, str], ...]  # (header, regex)
    body: str | None


@dataclass(frozen=True)
class HealthCheck:
    policy: str
    upstream: str
    location: str  # named location
    params: tuple[Arg, ...]  # interval=5s fails=3 ... match=<name> mandatory
    match: HealthMatch | None
    # The probe speaks the upstream's protocol: proxy_pass http(s):// (with the upstream's TLS
    # settings) or grpc_pass grpc(s):// with `type=grpc` (found by a hunt: https and gRPC
    # upstreams were probed in plain HTTP, so every server was marked down).
    scheme: str = "http"
    module: str = "proxy"


@dataclass(frozen=True)
class HealthHttp:
    matches: tuple[HealthMatch, ...]
    checks: tuple[HealthCheck, ...]


class Health(PolicyKind):
    name = "health"
    order = 90

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        reason = unavailable_reason(config.target, "health_check")
        if reason:
            diags.error(
                f"active health checks ({reason}; the target is {config.target})",
                source.pos(*policy.path, "kind"),
                hint="on NGINX OSS use passive checks: upstreams.<name>.passive_health (max_fails, "
                "fail_timeout), backup servers and upstreams.<name>.retries",
            )

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        cfg = policy.config
        stem = var_stem("hc", policy.name)
        m = cfg.get("match")
        match = None
        if m:
            match = HealthMatch(
                name=stem,
                status=tuple(token(t) for t in str(m.get("status", "")).split()),
                headers=tuple(sorted((m.get("headers") or {}).items())),
                body=m.get("body"),
            )
        params = [f"interval={duration(cfg.get('interval', '5s'))}"]
        params += [f"{k}={cfg[k]}" for k in ("fails", "passes") if k in cfg]
        if "uri" in cfg:
            params.append(f"uri={cfg['uri']}")
        if match:
            params.append(f"match={match.name}")
        if cfg.get("mandatory"):
            params.append("mandatory")
            if cfg.get("persistent"):
                params.append("persistent")
        # Every upstream the operation can reach: its own, and the variants of a split.
        upstreams = {eff.upstream}
        for p in eff.policies:
            if p.policy.kind == "split":
                upstreams |= set(p.policy.config.get("weights") or ())
        checks = []
        for name in sorted(upstreams):
            upstream = config.upstreams[name]
            grpc = upstream.is_grpc
            # The gRPC health protocol has no URI or answer to match: `uri`/`match` are for HTTP.
            own = [p for p in params if not p.startswith(("uri=", "match="))] + ["type=grpc"] if grpc else params
            checks.append(
                HealthCheck(
                    policy=policy.name,
                    upstream=name,
                    location=f"@{stem}_{name}",
                    params=tuple(token(p) for p in own),  # `uri=` comes from the policy
                    match=None if grpc else match,
                    scheme=upstream.scheme,
                    module="grpc" if grpc else "proxy",
                )
            )
        return tuple(checks)

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        flat = [h for checks in instances for h in checks]
        checks = {(h.policy, h.upstream): h for h in flat}
        matches = {h.match.name: h.match for h in flat if h.match}
        return HealthHttp(tuple(matches[k] for k in sorted(matches)), tuple(checks[k] for k in sorted(checks)))

    def upstream_zones(self, http_plan: Any) -> set[str]:
        return {h.upstream for h in http_plan.checks}


register(Health())
