"""``kind: ip_access`` - allow/deny lists of client addresses (CIDR, IPv4 and IPv6); 403 otherwise.

Rendered as nginx ``deny``/``allow`` in the operation location (access phase; never in a
subrequest, where nginx skips the access phase). ``deny`` entries win over ``allow`` entries; with
an ``allow`` list, every other address is denied.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.policies import PolicyKind, register

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.effective import EffectiveOperation


@dataclass(frozen=True)
class IpRules:
    rules: tuple[tuple[str, str], ...]  # ("deny"|"allow", network) in order


def networks(values: Any) -> list[str]:
    """The networks as nginx rules. An IPv4-mapped IPv6 network (``::ffff:10.0.0.0/104``) is
    written as the IPv4 network it maps: nginx checks an IPv4 client (an IPv4 listener, or an
    address realip took from X-Forwarded-For) against IPv4 rules only, so such a `deny` never
    matched it and the client passed (found by a hunt); a mapped client of a dual-stack listener
    is checked against IPv4 rules too."""
    out = []
    for value in values or ():
        net: ipaddress.IPv4Network | ipaddress.IPv6Network = ipaddress.ip_network(value, strict=False)
        if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.network_address.ipv4_mapped is not None:
            net = ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
        out.append(str(net))
    return out


class IpAccess(PolicyKind):
    name = "ip_access"
    order = 10
    guards_unmatched = True
    # A refused address is refused for preflights too (they carry no credentials, but an address
    # is no credential): it learnt the operation's methods from the 204 (found by a hunt).
    in_preflight = True

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        for field in ("allow", "deny"):
            for index, value in enumerate(policy.config.get(field) or ()):
                try:
                    net = ipaddress.ip_network(value, strict=True)
                except ValueError as exc:
                    diags.error(f"{field}: {exc}", source.pos(*policy.path, field, index))
                    continue
                if net.prefixlen == 0 and field == "allow":
                    diags.warning(f"allow: {net} allows every address", source.pos(*policy.path, field, index))

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        rules = [("deny", n) for n in networks(policy.config.get("deny"))]
        allow = networks(policy.config.get("allow"))
        rules += [("allow", n) for n in allow]
        if allow:
            rules.append(("deny", "all"))
        return IpRules(tuple(rules))


register(IpAccess())
