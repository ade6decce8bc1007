"""``kind: claims`` - rules on JWT claims (``role`` in [admin, ops]); a failure is a 403.

Every rule must hold; a claim that is a list passes when one of its values is allowed. The rules
read the claims of a verified JWT: on an operation that no JWT policy can authenticate they
would never pass (or, on a public operation, never run), so that is a build error at the
attachment (found by a hunt: a claims policy on a public operation was silently dropped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apigen.policies import register
from apigen.policies.auth import AuthKind, AuthLocation

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import GatewayConfig


class Claims(AuthKind):
    name = "claims"
    is_scheme = False


register(Claims())

# (claims policy, attachment data path) -> operations ("api.operationId") it cannot act on
ClaimsWithoutJwt = dict[tuple[str, tuple], list[str]]


def record_claims_without_jwt(op: Any, config: GatewayConfig, missing: ClaimsWithoutJwt) -> None:
    """Record the claims policies of the operation plan ``op`` when no alternative of its
    requirement has a JWT policy."""
    attached = [p for p in op.effective.policies if p.policy.kind == "claims"]
    if not attached:
        return
    requirement = next((u.plan.requirement for u in op.policies if isinstance(u.plan, AuthLocation)), ())
    if any(config.policies[s.policy].kind == "jwt" for alt in requirement for s in alt):
        return
    for p in attached:
        missing.setdefault((p.policy.name, tuple(p.origin)), []).append(f"{op.api}.{op.operation_id}")


def report_claims_without_jwt(missing: ClaimsWithoutJwt, diags: Diagnostics, source: PolicySource) -> None:
    for (name, origin), ops in sorted(missing.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        listed = ", ".join(ops[:5]) + (f" and {len(ops) - 5} more" if len(ops) > 5 else "")
        node: Any = source.data
        for key in origin:
            node = node[key] if isinstance(node, dict | list) else {}
        use = (node.get("use") or []) if isinstance(node, dict) else []
        at = (*origin, "use", use.index(name)) if name in use else origin
        diags.error(
            f"claims policy {name!r} checks the claims of a verified JWT, but no JWT policy authenticates "
            f"{listed}: its rules would never pass (or never run, on a public operation)",
            source.pos(*at),
            hint="attach a jwt policy (or an openapi_security mapping to one) where the claims policy is attached",
        )
