"""``kind: openapi_security`` - enforce the OpenAPI ``security`` requirements of each operation.

``schemes`` maps every security scheme name of the documents to an authentication policy. An
operation's ``security`` (else its document's) is an OR of alternatives, each an AND of schemes;
``security: []`` (or only ``{}``) makes it public; ``{}`` next to other alternatives makes
authentication optional: anonymous clients pass, a credential that is sent must be valid (401
otherwise) and its identity is forwarded. Scopes of OAuth2/OpenID Connect
schemes are checked against the token's ``scope``/``scp`` claim (403 insufficient_scope).
"""

from __future__ import annotations

from apigen.policies import register
from apigen.policies.auth import AuthKind


class OpenApiSecurity(AuthKind):
    name = "openapi_security"
    is_scheme = False


register(OpenApiSecurity())
