"""``kind: jwt`` - JSON Web Tokens verified by the gateway (njs WebCrypto on NGINX OSS).

Keys come from JWKS or PEM files (public keys) or secret files (HMAC), each pinned to one
algorithm; they are converted at build time (see :mod:`apigen.policies.jwt_keys`). Checks: the
signature, ``exp``/``nbf`` with ``leeway`` seconds, ``issuer`` and ``audience``. Claims named in
``forward_claims`` reach the upstream as headers (client-sent headers of those names are dropped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apigen.policies import register
from apigen.policies.auth import AuthKind
from apigen.policies.keys import header_name_reason

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import GatewayConfig, PolicyDef


class Jwt(AuthKind):
    name = "jwt"

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        super().check(policy, config, source, diags)
        token = policy.config.get("token") or {}
        if token.get("from") == "header":
            reason = header_name_reason(str(token.get("name", "")))
            if reason:
                diags.error(reason, source.pos(*policy.path, "token", "name"))


register(Jwt())
