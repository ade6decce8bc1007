"""``kind: api_key`` - a key from a header, query argument or cookie, looked up in a key file.

The key file (``client-name: key`` lines) becomes a ``map`` include of the bundle written 0600,
never part of nginx.conf. The client name is sent upstream (``forward_as``) and is the variable
``$apigen_client`` in every phase (for rate-limit keys: it is set only by a known key).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apigen.policies import register
from apigen.policies.auth import AuthKind
from apigen.policies.auth_files import API_KEY_DEFAULT_HEADER
from apigen.policies.keys import header_name_reason

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import GatewayConfig, PolicyDef


class ApiKey(AuthKind):
    name = "api_key"
    # $apigen_client (the key's client name) exists whenever an api_key policy is in use: the
    # access log and aggregate parts pick it up through this.
    provides = frozenset({"apigen_client"})

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        super().check(policy, config, source, diags)
        if policy.config.get("in", "header") == "header":
            reason = header_name_reason(str(policy.config.get("name", API_KEY_DEFAULT_HEADER)))
            if reason:
                diags.error(reason, source.pos(*policy.path, "name"))


register(ApiKey())
