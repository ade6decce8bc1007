"""Policy kinds the lint rules look for, by kind name: the one table to edit when kinds change.

Rules never import policy modules: a kind named here that no module registers yet simply never
matches, so the rules work whichever kinds the compiler currently has.
"""

from __future__ import annotations

AUTH_KINDS = frozenset({"jwt", "api_key", "basic", "mtls", "oidc", "oauth2"})
RATE_LIMIT_KINDS = frozenset({"rate_limit"})
SPLIT_KINDS = frozenset({"split"})

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Keys in the policy file that ask for an NGINX Plus feature, with the first OSS release that has
# it (None: Plus only). Matched anywhere in the file, so a key a kind adds later is caught too.
PLUS_ONLY_KEYS: dict[str, tuple[str, tuple[int, ...] | None]] = {
    "slow_start": ("slow_start on upstream servers", None),
    "health_check": ("active health checks", None),
    "active_health": ("active health checks", None),
    "queue": ("upstream request queues", None),
    "ntlm": ("NTLM upstream connections", None),
    "keyval": ("key-value zones", None),
    "zone_sync": ("zone synchronisation", None),
    "status_zone": ("status zones", None),
    "sticky": ("sticky sessions", (1, 29, 6)),
}
# Values of `balance:` that need Plus (or a recent OSS).
PLUS_ONLY_BALANCE: dict[str, tuple[str, tuple[int, ...] | None]] = {
    "least_time": ("least_time load balancing", (1, 31, 0)),
}
