"""Key sources that would not tell clients apart on some operations (limits, splits, cache
keys): checked over the operation plans, reported once per policy key with the operations
named. Planned operations are needed to know which authentication each one has."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apigen.policies.auth import AuthLocation
from apigen.policies.keys import api_client_sources, jwt_claim_sources, variable_name

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import GatewayConfig
    from apigen.plan.planner import OperationPlan

# (policy, data path of the key under it, key source) -> operations ("api.operationId")
Missing = dict[tuple[str, tuple, str], list[str]]

KEYED_KINDS = frozenset({"rate_limit", "conn_limit", "split", "cache"})


def claim_keys_without_auth_jwt(op: OperationPlan, missing: Missing) -> None:
    """Record ``jwt_claim:`` keys of ``op``'s policies when no auth_jwt authenticates it (NGINX
    Plus): $jwt_claim_* is only set where auth_jwt runs, elsewhere every request has the same
    (empty) key. Found by a hunt: a per-user rate limit was one bucket shared by every client."""
    if any(isinstance(u.plan, AuthLocation) and u.plan.plus is not None for u in op.policies):
        return
    for p in op.effective.policies:
        if p.policy.kind in KEYED_KINDS:
            for at, src in jwt_claim_sources(p.policy.kind, p.policy.config):
                missing.setdefault((p.policy.name, at, src), []).append(f"{op.api}.{op.operation_id}")


def client_keys_without_api_key(op: OperationPlan, config: GatewayConfig, missing: Missing) -> None:
    """Record ``api_key_client`` keys of ``op``'s policies when no alternative of its
    requirement has an API key: $apigen_client is empty for every request there (nginx does not
    limit requests with an empty key), and where no operation has an API key the variable is
    not even defined (found by a hunt: the build passed, nginx -t failed)."""
    requirement = next((u.plan.requirement for u in op.policies if isinstance(u.plan, AuthLocation)), ())
    if any(config.policies[s.policy].kind == "api_key" for alt in requirement for s in alt):
        return
    for p in op.effective.policies:
        if p.policy.kind in KEYED_KINDS:
            for at, src in api_client_sources(p.policy.kind, p.policy.config):
                missing.setdefault((p.policy.name, at, src), []).append(f"{op.api}.{op.operation_id}")


def report_client_keys(
    missing: Missing, config: GatewayConfig, diags: Diagnostics, source: PolicySource
) -> None:
    for (name, at, src), ops in sorted(missing.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        listed = ", ".join(ops[:5]) + (f" and {len(ops) - 5} more" if len(ops) > 5 else "")
        diags.error(
            f"key {src!r}: no API-key policy authenticates {listed}, so the client is empty for every request "
            "there: all requests share one key (and a limit keyed on it alone counts nothing: nginx skips an empty key)",
            source.pos(*config.policies[name].path, *at),
            hint="attach an api_key policy to these operations, or key on something else (client_ip, a header)",
        )


def report_claim_keys(
    missing: Missing, config: GatewayConfig, diags: Diagnostics, source: PolicySource
) -> None:
    for (name, at, src), ops in sorted(missing.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        listed = ", ".join(ops[:5]) + (f" and {len(ops) - 5} more" if len(ops) > 5 else "")
        var = variable_name(src, config.target)
        diags.error(
            f"key {src!r}: ${var} is set only where NGINX Plus auth_jwt authenticates the request (a single jwt "
            f"policy as the operation's whole requirement); {listed} {'is' if len(ops) == 1 else 'are'} not, so "
            f"${var} is empty there and does not tell clients apart",
            source.pos(*config.policies[name].path, *at),
            hint="attach a jwt policy to these operations, or key on something else (client_ip, a header)",
        )
