"""``kind: rate_limit`` (``limit_req``) and ``kind: conn_limit`` (``limit_conn``).

One shared-memory zone per policy, whatever the number of operations it is attached to, so a
limit on an API counts the API's requests together. A key that evaluates to the empty string is
not counted by nginx: exemptions (client addresses, API-key clients) map the key to empty.
Rejections answer 429 (or the configured status) with the gateway's JSON body and a
``Retry-After`` header.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from apigen.policies import PolicyKind, register
from apigen.policies.keys import (
    API_CLIENT_VAR,
    invalid_source_reason,
    key_expression,
    key_sources,
    required_variable,
    target_source_reason,
)
from apigen.targets import unavailable_reason

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation

# Bytes of zone memory per tracked key: a state is 64 bytes plus the key on 64-bit platforms
# (limit_req docs: "one megabyte zone can keep about 16 thousand 64-byte states").
STATE_BYTES = 128
DEFAULT_CLIENTS = 10_000


def zone_size(clients: int) -> str:
    return f"{max(1, math.ceil(clients * STATE_BYTES / (1 << 20)))}m"


def var_stem(prefix: str, policy_name: str) -> str:
    return f"apigen_{prefix}_" + policy_name.lower().replace("-", "_")


@dataclass(frozen=True)
class LimitZone:
    """The http-level part of one policy: its zone and, with exemptions, the maps feeding its key."""

    directive: str  # limit_req_zone | limit_conn_zone
    zone: str  # the zone's name: the policy's stem and a digest of its key (see zone_name)
    key_var: str  # the variable the exemption map defines (the policy's stem + "_key")
    size: str
    rate: str | None
    key: str  # the expression nginx counts by (a variable when exemptions apply)
    key_expr: str  # the key before exemptions
    exempt_ip_var: str | None
    exempt_ips: tuple[str, ...]
    exempt_client_var: str | None
    exempt_clients: tuple[str, ...]
    policy: str


@dataclass(frozen=True)
class LimitHttp:
    zones: tuple[LimitZone, ...]
    conn_retry_after_var: str = ""  # conn_limit: the Retry-After of its rejections (see ConnLimit)
    conn_retry_after: int = 0


@dataclass(frozen=True)
class RateLimitUse:
    zone: LimitZone
    burst: int | None
    delay: str | None  # "nodelay", "delay=N" or None (queue every excess request)
    dry_run: bool
    retry_after: int
    first: bool = True  # the first rate_limit of the location prints the per-location directives
    location_dry_run: bool = False  # limit_req_dry_run is per location: on if any limit asks


@dataclass(frozen=True)
class ConnLimitUse:
    zone: LimitZone
    max: int
    dry_run: bool
    status: int
    first: bool = True
    location_dry_run: bool = False


def zone_name(stem: str, key: str, key_expr: str) -> str:
    """The zone of a policy: its stem and a digest of what it counts by (the key nginx is given
    and, behind an exemption map, the expression the map yields). On `nginx -s reload`, a zone
    of the same name and size keeps its states, and nginx refuses the whole new configuration
    when its key text differs (`limit_req "..." uses the "k:${http_x_tenant}" key while
    previously it used the "$binary_remote_addr" key`, an emerg in the error log, while
    `nginx -s reload`, `nginx -t` and `apigen check` all succeed): a rebuild that changed a
    limit's `key` or added its first exemption left the previous configuration running (found
    by a hunt). With the key in the name, such a reload starts the limit on a fresh zone."""
    digest = hashlib.sha256((key + "\n" + key_expr).encode()).hexdigest()
    return f"{stem}_{digest[:8]}"


def _zone(directive: str, prefix: str, policy: PolicyDef, config: GatewayConfig) -> LimitZone:
    cfg = policy.config
    stem = var_stem(prefix, policy.name)
    expr = key_expression(key_sources(cfg.get("key")), config.target)
    exempt = cfg.get("exempt") or {}
    ips = tuple(sorted(exempt.get("ips") or ()))
    clients = tuple(sorted(exempt.get("clients") or ()))
    key = f"${stem}_key" if ips or clients else expr
    return LimitZone(
        directive=directive,
        zone=zone_name(stem, key, expr),
        key_var=f"{stem}_key",
        size=zone_size(int(cfg.get("clients", DEFAULT_CLIENTS))),
        rate=cfg.get("rate"),
        key=key,
        key_expr=expr,
        exempt_ip_var=f"{stem}_exempt_ip" if ips else None,
        exempt_ips=ips,
        exempt_client_var=f"{stem}_exempt_client" if clients else None,
        exempt_clients=clients,
        policy=policy.name,
    )


def retry_after(rate: str) -> int:
    """Seconds until the next request is allowed at ``rate`` once the burst is used up."""
    count, _, unit = rate.partition("r/")
    return max(1, math.ceil((60 if unit == "m" else 1) / int(count)))


def defined_variables(config: GatewayConfig) -> set[str]:
    """Variables the kinds in the policy file define (a kind's ``provides`` set, e.g. the API-key
    kind's ``apigen_client``; ``defines`` is accepted too)."""
    from apigen.policies import registry

    out: set[str] = set()
    for p in config.policies.values():
        kind = registry.get(p.kind)
        out |= set(getattr(kind, "provides", ()) or ()) | set(getattr(kind, "defines", ()) or ())
    return out


def _check_common(policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
    cfg = policy.config
    have = defined_variables(config)
    for i, src in enumerate(key_sources(cfg.get("key"))):
        at = ("key",) if isinstance(cfg.get("key"), str) else ("key", i)
        reason = invalid_source_reason(src) or target_source_reason(src, config.target)
        if reason:
            diags.error(reason, source.pos(*policy.path, *at))
            continue
        needs = required_variable(src, config.target)
        if needs and needs not in have:
            diags.error(
                f"key {src!r} needs ${needs}, which no policy kind in this file defines",
                source.pos(*policy.path, *at),
                hint="attach an API-key or JWT policy that identifies the client",
            )
    if (cfg.get("exempt") or {}).get("clients") and API_CLIENT_VAR not in have:
        diags.error(
            f"exempt.clients needs ${API_CLIENT_VAR} (the API-key client), which no policy kind in this file defines",
            source.pos(*policy.path, "exempt", "clients"),
        )
    for i, ip in enumerate((cfg.get("exempt") or {}).get("ips") or ()):
        try:
            ipaddress.ip_network(ip, strict=False)
        except ValueError:
            diags.error(f"not an IP address or CIDR network: {ip!r}", source.pos(*policy.path, "exempt", "ips", i))


class _Limits(PolicyKind):
    accumulates = True  # a per-client and a global limit on the same operation both apply
    order = 10
    in_preflight = True  # CORS preflights are counted too: they must not bypass limits

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        _check_common(policy, config, source, diags)
        if policy.config.get("dry_run"):
            directive = "limit_req_dry_run" if policy.kind == "rate_limit" else "limit_conn_dry_run"
            reason = unavailable_reason(config.target, directive)
            if reason:
                diags.error(f"dry_run: {reason}", source.pos(*policy.path, "dry_run"))

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        zones = {u.zone.zone: u.zone for u in instances}
        return LimitHttp(tuple(zones[name] for name in sorted(zones)))

    def combine(self, plans: list[Any]) -> list[Any]:
        """Per-location directives (``*_dry_run``, ``*_status``) may appear once: the first
        instance prints them. nginx has no per-zone dry-run switch: a dry-run policy makes every
        limit of its kind on the operation dry-run (the status of the first conn_limit wins)."""
        dry = any(p.dry_run for p in plans)
        out = [replace(p, first=i == 0, location_dry_run=dry) for i, p in enumerate(plans)]
        if out and isinstance(out[0], RateLimitUse):  # Retry-After: the longest wait of the limits
            longest = max(p.retry_after for p in out)
            out = [replace(p, retry_after=longest) for p in out]
        return out


class RateLimit(_Limits):
    name = "rate_limit"

    def error_headers(self, http_plan: Any) -> list[tuple[int, str, str]]:
        # $apigen_retry_after is set by every rate-limited location (see the partial).
        return [(429, "Retry-After", "apigen_retry_after")]

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        cfg = policy.config
        delay = cfg.get("delay", "nodelay")
        return RateLimitUse(
            zone=_zone("limit_req_zone", "rl", policy, config),
            burst=cfg.get("burst") or None,  # nginx refuses burst=0: no burst is the same
            # delay 0 (every excess request waits) is nginx's default; it refuses `delay=0`.
            delay="nodelay" if delay == "nodelay" else f"delay={int(delay)}" if int(delay) else None,
            dry_run=bool(cfg.get("dry_run", False)),
            retry_after=retry_after(cfg["rate"]),
        )


# A concurrency limit's rejection says to retry after a second: a slot frees as soon as any
# request of the key ends, so there is no wait to compute. The value is non-empty only when
# limit_conn rejected this request ($limit_conn_status: nginx 1.17.6, older than any target),
# so where a rate limit applies too, its own Retry-After answers its rejections.
CONN_RETRY_AFTER_VAR = "apigen_conn_retry_after"
CONN_RETRY_AFTER_SECONDS = 1


class ConnLimit(_Limits):
    name = "conn_limit"

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        return replace(super().plan_http(instances, config, assets), conn_retry_after_var=CONN_RETRY_AFTER_VAR, conn_retry_after=CONN_RETRY_AFTER_SECONDS)

    def error_headers(self, http_plan: Any) -> list[tuple[int, str, str]]:
        return [(status, "Retry-After", http_plan.conn_retry_after_var) for status in (429, 503)]

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        cfg = policy.config
        return ConnLimitUse(
            zone=_zone("limit_conn_zone", "cl", policy, config),
            max=int(cfg["max"]),
            dry_run=bool(cfg.get("dry_run", False)),
            status=int(cfg.get("status", 429)),
        )


register(RateLimit())
register(ConnLimit())

__all__ = ["API_CLIENT_VAR", "ConnLimitUse", "LimitHttp", "LimitZone", "RateLimitUse", "retry_after", "zone_size"]
