"""Policy kinds the lint rules look for, by kind name: the one table to edit when kinds change.

Rules never import policy modules: a kind named here that no module registers yet simply never
matches, so the rules work whichever kinds the compiler currently has.
"""

from __future__ import annotations

AUTH_KINDS = frozenset({"jwt", "api_key", "basic_auth", "mtls", "oidc", "oauth2"})
# Kinds that enforce the OpenAPI document's own `security` (they protect exactly the operations
# the document secures).
SPEC_AUTH_KINDS = frozenset({"openapi_security"})
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

# The nginx phase in which a kind's directives act, for `apigen explain` (request order:
# rewrite -> preaccess -> access -> precontent -> content; response filters last). A kind not
# listed shows as "other".
KIND_PHASE: dict[str, str] = {
    "rewrite": "rewrite",
    "cors": "rewrite",
    "split": "rewrite",
    "rate_limit": "preaccess",
    "conn_limit": "preaccess",
    "mtls": "access",
    "ip_access": "access",
    "jwt": "access",
    "api_key": "access",
    "basic_auth": "access",
    "openapi_security": "access",
    "claims": "access",
    "waf": "access",
    "validation": "content",  # js_content, after the access phase
    "aggregate": "content",
    "websocket": "content",
    "cache": "content",
    "headers": "content",
    "body_limit": "content",
    "errors": "response",
    "health": "other",  # upstream probes, not a phase of the request
}
PHASE_ORDER = ("rewrite", "preaccess", "access", "precontent", "content", "response", "other")

# Directive -> phase, for the directives of an operation's location.
DIRECTIVE_PHASE: dict[str, str] = {
    **dict.fromkeys(("set", "rewrite", "return", "if", "break", "js_set"), "rewrite"),
    **dict.fromkeys(("limit_req", "limit_conn", "limit_req_status", "limit_conn_status", "limit_req_dry_run"),
                    "preaccess"),
    **dict.fromkeys(("allow", "deny", "auth_basic", "auth_basic_user_file", "auth_request", "auth_request_set",
                     "auth_jwt", "auth_jwt_key_file", "auth_jwt_key_request", "auth_jwt_require",
                     "auth_jwt_leeway", "auth_jwt_claim_set", "satisfy"), "access"),
    **dict.fromkeys(("try_files", "mirror", "mirror_request_body"), "precontent"),
    **dict.fromkeys(("add_header", "add_trailer", "proxy_hide_header", "proxy_pass_header", "proxy_intercept_errors",
                     "error_page"), "response"),
}
