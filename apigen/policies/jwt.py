"""``kind: jwt`` - JSON Web Tokens verified by the gateway (njs WebCrypto on NGINX OSS).

Keys come from JWKS or PEM files (public keys) or secret files (HMAC), each pinned to one
algorithm; they are converted at build time (see :mod:`apigen.policies.jwt_keys`). Checks: the
signature, ``exp``/``nbf`` with ``leeway`` seconds, ``issuer`` and ``audience``. Claims named in
``forward_claims`` reach the upstream as headers (client-sent headers of those names are dropped).
"""

from __future__ import annotations

from apigen.policies import register
from apigen.policies.auth import AuthKind


class Jwt(AuthKind):
    name = "jwt"


register(Jwt())
