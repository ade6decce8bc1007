"""``kind: mtls`` - the request must come with a client certificate the gateway verified.

The trusted CA is ``gateway.tls.client_certificate`` (``verify_client: optional`` lets operations
without this policy serve clients without a certificate). The subject DN is forwarded upstream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apigen.policies import register
from apigen.policies.auth import AuthKind

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import GatewayConfig, PolicyDef


class Mtls(AuthKind):
    name = "mtls"

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        super().check(policy, config, source, diags)
        tls = config.gateway.tls
        if tls is None or not tls.client_certificate:
            diags.error(
                "an mtls policy needs gateway.tls with client_certificate (the CA that signs client certificates)",
                source.pos(*policy.path, "kind"),
            )


register(Mtls())
