"""``kind: basic_auth`` - HTTP Basic credentials checked against an htpasswd file.

nginx's own ``auth_basic`` checks the password in the operation location (njs cannot hash
crypt/bcrypt passwords, and the access phase does not run in the ``auth_request`` subrequest);
it is switched on only when the client sends Basic credentials, so other alternatives of an
OpenAPI requirement still work. The htpasswd file is copied into the bundle with mode 0600.
"""

from __future__ import annotations

from apigen.policies import register
from apigen.policies.auth import AuthKind


class BasicAuth(AuthKind):
    name = "basic_auth"


register(BasicAuth())
