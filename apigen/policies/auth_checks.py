"""Checks of the authentication policies over every operation (run once per build)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apigen.policies.auth_files import API_KEY_DEFAULT_HEADER
from apigen.targets import unavailable_reason

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import GatewayConfig, PolicyDef

NJS_DIRECTIVES = ("js_import", "js_path", "js_content", "auth_request", "auth_request_set")



def check_target(policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
    for directive in NJS_DIRECTIVES:
        reason = unavailable_reason(config.target, directive)
        if reason is not None:
            diags.error(f"{policy.kind} policy cannot be rendered for {config.target}: {reason}", source.pos(*policy.path, "kind"))
            return


def _gateway_ports(config: GatewayConfig) -> dict[int, set[str]]:
    """Port -> addresses the gateway already listens on ("" = every address)."""
    gw = config.gateway
    listens = [*gw.listen, *gw.http2_cleartext, *(gw.tls.listen if gw.tls else ()), *((gw.metrics.listen,) if gw.metrics else ())]
    ports: dict[int, set[str]] = {}
    for item in listens:
        ports.setdefault(item.port, set()).add(item.address)
    return ports


def check_cache_listen(policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
    """The JWT verifier of the cache needs an address of its own (apigen/policies/auth_cache.py)."""
    listen = str((policy.config.get("cache") or {}).get("listen", ""))
    if not listen or listen.startswith("unix:"):
        return
    host, _, port_text = listen.rpartition(":")
    port = int(port_text)
    taken = _gateway_ports(config).get(port, set())
    if not 0 < port < 65536 or "" in taken or host in taken:
        diags.error(f"cache.listen {listen!r} is not a free port of this gateway: the verifier needs an address of its own",
                    source.pos(*policy.path, "cache", "listen"))


_SCHEME_KINDS = {"basic": "basic_auth", "bearer": "jwt", "oauth2": "jwt", "openIdConnect": "jwt", "mutualTLS": "mtls"}


def scheme_mismatch(scheme: Any, policy: PolicyDef) -> str | None:
    """How the policy an `openapi_security` maps a document's scheme to cannot take what the
    scheme tells clients to send, or None (found by a hunt: mapped silently)."""
    if not isinstance(scheme, dict):
        return None
    kind = scheme.get("type")
    cfg = policy.config
    if kind == "apiKey":
        # A JWT in a header, query argument or cookie of its own is an apiKey scheme to
        # OpenAPI, which has no type for it: a jwt policy reading the same place takes it.
        token = cfg.get("token") or {} if policy.kind == "jwt" else {}
        if policy.kind != "api_key" and token.get("from") not in ("header", "query", "cookie"):
            return f"is an apiKey, mapped to {policy.name!r}, a {policy.kind} policy"
        where, name = str(scheme.get("in", "")), str(scheme.get("name", ""))
        if policy.kind == "jwt":
            mine, my_name = str(token["from"]), str(token.get("name", ""))
        else:
            # The policy's defaults count (found by a hunt: a policy with the default header was
            # read as '' and reported as a mismatch).
            mine = str(cfg.get("in", "header"))
            my_name = str(cfg.get("name", API_KEY_DEFAULT_HEADER if mine == "header" else ""))
        same = my_name.lower() == name.lower() if where == "header" else my_name == name
        if where != mine or not same:
            return f"sends the key in {where} {name!r}, but policy {policy.name!r} reads {mine} {my_name!r}"
        return None
    expected = _SCHEME_KINDS.get(str(scheme.get("scheme", "")).lower() if kind == "http" else str(kind))
    if expected is not None and policy.kind != expected:
        what = f"http {scheme.get('scheme')}" if kind == "http" else kind
        return f"is {what}, mapped to {policy.name!r}, a {policy.kind} policy (expected {expected})"
    return None


def check_all(config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
    """Checks over every operation, run once per build (from the first authentication policy)."""
    from apigen.plan.effective import resolve_operation
    from apigen.policies.auth import _state, auth_kind_names, requirement_of, scheme_kind_names

    state = _state(config)
    if state.checked:
        return
    state.checked = True
    auth, schemes = auth_kind_names(), scheme_kind_names()
    for policy in config.policies.values():
        if policy.kind == "openapi_security":
            for scheme, target in sorted((policy.config.get("schemes") or {}).items()):
                at = source.pos(*policy.path, "schemes", scheme)
                if target not in config.policies:
                    diags.error(f"scheme {scheme!r} maps to unknown policy {target!r}", at)
                elif config.policies[target].kind not in schemes:
                    diags.error(f"scheme {scheme!r} maps to {target!r}, a {config.policies[target].kind} policy; "
                                "expected jwt, api_key, basic_auth or mtls", at)
                # An API whose document failed is left out of config.apis: its schemes are not
                # known, so no warning then (they were false alarms next to the real error).
                listed = source.data.get("apis") if isinstance(source.data, dict) else None
                complete = not isinstance(listed, list) or len(config.apis) >= len(listed)
                if complete and not any(scheme in api.security_schemes for api in config.apis):
                    diags.warning(f"no API document defines the security scheme {scheme!r}", at)
                elif target in config.policies:
                    for api in config.apis:
                        mismatch = scheme_mismatch(api.security_schemes.get(scheme), config.policies[target])
                        if mismatch:
                            diags.warning(
                                f"scheme {scheme!r} of API {api.name!r} {mismatch}: clients following the "
                                f"document are refused",
                                at,
                                code="security-scheme-mismatch",
                            )
                            break
    reported: set[str] = set()
    for api in config.apis:
        for op in api.operations:
            eff = resolve_operation(api, op, config)
            if not any(p.policy.kind in auth for p in eff.policies):
                continue
            errors: list[tuple[str, tuple]] = []
            req = requirement_of(eff, api, config, errors)
            for alt in req:
                for s in alt:
                    pol = config.policies.get(s.policy)
                    if pol is not None and s.scopes and pol.kind != "jwt":
                        errors.append((f"operation {api.name}.{op.operation_id} requires scopes of {s.policy!r}, "
                                       f"a {pol.kind} policy: only jwt policies carry scopes", (*pol.path, "kind")))
            basics = {s.policy for alt in req for s in alt if s.policy in config.policies and config.policies[s.policy].kind == "basic_auth"}
            if len(basics) > 1:
                errors.append((f"operation {api.name}.{op.operation_id} accepts two basic_auth policies "
                               f"({', '.join(sorted(basics))}); nginx checks one htpasswd file per location",
                               config.policies[sorted(basics)[1]].path))
            claims = [p for p in eff.policies if p.policy.kind == "claims"]
            if claims and req and not any(config.policies[s.policy].kind == "jwt" for alt in req for s in alt if s.policy in config.policies):
                errors.append((f"claim rules apply to operation {api.name}.{op.operation_id}, which accepts no JWT",
                               claims[0].policy.path))
            if claims and () in req:
                errors.append((f"claim rules apply to operation {api.name}.{op.operation_id}, which also allows anonymous "
                               "access (`{}` in its security): an anonymous client has no claims to check",
                               claims[0].policy.path))
            for message, path in errors:
                if message not in reported:
                    reported.add(message)
                    diags.error(message, source.pos(*path))
