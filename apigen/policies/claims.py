"""``kind: claims`` - rules on JWT claims (``role`` in [admin, ops]); a failure is a 403.

Every rule must hold; a claim that is a list passes when one of its values is allowed.
"""

from __future__ import annotations

from apigen.policies import register
from apigen.policies.auth import AuthKind


class Claims(AuthKind):
    name = "claims"
    is_scheme = False


register(Claims())
