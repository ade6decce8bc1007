"""``kind: cache`` - response caching for GET/HEAD operations (``proxy_cache``).

One cache zone per policy. Other methods of an API the policy is attached to are left alone.
Responses carry ``X-Cache-Status`` (MISS, HIT, BYPASS, EXPIRED, ...); a request with the bypass
header set to a non-empty value other than ``0`` skips the lookup. The key is scheme, host and
request URI, plus the ``vary`` key sources, plus the caller's credentials (``Authorization``,
``Cookie`` and the token, key or client certificate of the operation's authentication policies):
a cache shared between clients never serves one client's data to another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.policies import PolicyKind, duration, register, registry, size_bytes, size_without_g
from apigen.policies.keys import invalid_source_reason, required_variable, target_source_reason, variable_name
from apigen.policies.rate_limit import defined_variables, var_stem

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation

CACHEABLE = ("GET", "HEAD")
MIN_ZONE_BYTES = 8 * 1024


@dataclass(frozen=True)
class CacheZone:
    policy: str
    zone: str
    path: str
    size: str
    max_size: str
    inactive: str


@dataclass(frozen=True)
class CacheUse:
    zone: CacheZone
    key: str
    valid: tuple[tuple[str, str], ...]  # (status or "any", duration)
    bypass_var: str | None
    lock: bool


class Cache(PolicyKind):
    name = "cache"
    proxy_only = True
    order = 60

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        if "zone_size" in policy.config and size_bytes(policy.config["zone_size"]) < MIN_ZONE_BYTES:
            # nginx 1.22 (seen): keys_zone below two 4 KiB pages is "too small" at nginx -t.
            diags.error(
                f"zone_size {policy.config['zone_size']!r} is below nginx's smallest cache keys zone (8k); "
                "1m holds about 8,000 keys",
                source.pos(*policy.path, "zone_size"),
            )
        have = defined_variables(config)
        for i, src in enumerate(policy.config.get("vary") or ()):
            reason = invalid_source_reason(src) or target_source_reason(src, config.target)
            needs = required_variable(src, config.target)
            if reason:
                diags.error(reason, source.pos(*policy.path, "vary", i))
            elif needs and needs not in have:
                diags.error(
                    f"vary {src!r} needs ${needs}, which no policy kind in this file defines",
                    source.pos(*policy.path, "vary", i),
                )

    def inactive_reason(self, policy: PolicyDef, eff: EffectiveOperation) -> str | None:
        return super().inactive_reason(policy, eff) or (None if eff.op.method in CACHEABLE else "caches GET and HEAD only")

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        if eff.op.method not in CACHEABLE:
            return None
        cfg = policy.config
        stem = var_stem("cache", policy.name)
        zone = CacheZone(
            policy=policy.name,
            zone=stem,
            # Named after the zone, not the policy: nginx keeps a cache zone of the same name and
            # size across `nginx -s reload` and refuses the whole new configuration when its path
            # changed (`cache "apigen_cache_pet_cache" uses the ".../temp/cache_pet_cache" cache
            # path while previously it used the ".../temp/cache_pet-cache" cache path`), while
            # `nginx -t` and the reload command succeed: renaming `pet-cache` to `pet_cache` (or
            # `Pets` to `pets`) left the previous configuration running (found by a hunt).
            path="temp/" + stem.removeprefix("apigen_"),
            size=size_without_g(cfg.get("zone_size", "10m")),
            max_size=str(cfg.get("max_size", "100m")),
            inactive=duration(cfg.get("inactive", "10m")),
        )
        key = "$scheme$host$request_uri" + "".join(
            ":${" + variable_name(s, config.target) + "}" for s in cfg.get("vary") or ()
        )
        # One caller's answer is never another's (RFC 9111, 3.5): the credentials are part of the
        # key (found live: with only the URI, bob got alice's cached response).
        key += "".join(f":{v}" for v in credential_variables(eff, config))
        # With a canary split, each variant's answers are cached apart.
        for p in eff.policies:
            kind = registry.get(p.policy.kind)
            if kind is not None and kind is not self:
                variant = kind.upstream_variable(kind.plan_location(p.policy, eff, api, config))
                if variant:
                    key += ":${" + variant + "}"
        valid = cfg.get("valid") or {"200": "1m"}
        bypass = cfg.get("bypass_header")
        return CacheUse(
            zone=zone,
            key=key,
            valid=tuple(sorted((str(k), duration(v)) for k, v in valid.items())),
            bypass_var=("http_" + bypass.lower().replace("-", "_")) if bypass else None,
            lock=bool(cfg.get("lock", True)),
        )

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        zones = {u.zone.zone: u.zone for u in instances if u is not None}
        return tuple(zones[k] for k in sorted(zones))


def credential_variables(eff: EffectiveOperation, config: GatewayConfig) -> list[str]:
    """Where the operation's callers put their credentials: the Authorization and Cookie headers
    always (an upstream may authenticate with them: a session cookie is a credential the gateway
    does not see as one; without it, answers to one session were served to another, found by a
    hunt), and the token, key or certificate variable of every authentication policy that
    applies (the policies an ``openapi_security`` maps too)."""
    from apigen.policies.auth_cache import token_variable
    from apigen.policies.auth_files import source_variable

    names: list[str] = []
    for p in eff.policies:
        if p.policy.kind == "openapi_security":
            names += sorted(set((p.policy.config.get("schemes") or {}).values()))
        else:
            names.append(p.policy.name)
    out = ["$http_authorization", "$http_cookie"]
    for name in names:
        policy = config.policies.get(name)
        if policy is None:
            continue
        if policy.kind == "jwt":
            out.append(token_variable(policy))
        elif policy.kind == "api_key":
            out.append("$" + source_variable(policy.config))
        elif policy.kind == "mtls":
            out.append("$ssl_client_s_dn")
    return list(dict.fromkeys(out))


register(Cache())
