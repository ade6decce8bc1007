"""What the authentication kinds (jwt, api_key, basic_auth, mtls, openapi_security, claims) share.

An operation's authentication requirement is an OR of alternatives, each an AND of schemes; a
scheme is one authentication policy plus the OAuth scopes it must carry. It comes from the
OpenAPI ``security`` of the operation (or its document) through an ``openapi_security`` policy
that maps scheme names to policies, and from authentication policies attached with ``use:``
directly (each required). On NGINX the requirement is checked by one njs handler reached through
``auth_request`` (`apigen/data/njs/apigen_auth.js`); the operation location stays a
``proxy_pass`` location, so the access phase always runs before the upstream answers.

Several kinds contribute to one ``auth_request``, but a location can hold only one: the first
authentication policy of an operation (in effective order) is its *leader* and prints the
directives for all of them; the others print nothing. Likewise the alphabetically first kind
in use prints the http/server part for every operation (the state of one build is kept in
:data:`_build`, keyed by the configuration object, so planning twice gives the same output).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from apigen.plan.paths import exact_regex
from apigen.policies import UNMATCHED_OPERATION_ID, BundleFile, PolicyKind, jwt_keys, registry
from apigen.policies.auth_cache import AuthCacheHttp, plan_cache, requirement_ttl
from apigen.policies.auth_checks import check_all, check_cache_listen, check_target
from apigen.policies.auth_files import (
    API_KEY_DEFAULT_HEADER,
    API_KEY_EXACT_REGEX,
    QUERY_VAR_PREFIX,
    api_key_map_text,
    check_htpasswd,
    cookie_dup_regex,
    cookie_dup_variable,
    forward_headers,
    identity_header,
    njs_policy,
    query_arguments,
    shared_identity_header,
    source_variable,
    token_cookies,
    var_slug,
)
from apigen.policies.jwt_plus import PlusJwt, PlusMap, jwk_of, native_possible, plan_plus_jwt

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, Operation, PolicyDef
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation

AUTH_URI_PREFIX = "/_apigen/auth/"
NJS_MODULE = "njs/apigen_auth.js"
NJS_CONFIG = "apigen_auth_config.js"
CHALLENGE_VAR = "apigen_www_authenticate"
CLIENT_VAR = "apigen_client"


@dataclass(frozen=True)
class Scheme:
    policy: str
    scopes: tuple[str, ...] = ()


Requirement = tuple[tuple[Scheme, ...], ...]  # OR of ANDs; () = public


@dataclass(frozen=True)
class AuthLocation:
    """What one operation location gets (printed by its leader only)."""

    leader: bool
    auth_uri: str | None  # None: public
    basic: tuple[str, str] | None  # (realm variable, htpasswd include path)
    sets: tuple[tuple[str, str], ...]  # auth_request_set (variable, subrequest variable)
    forward: tuple[tuple[str, str], ...]  # proxy_set_header (header, variable or "" to strip)
    requirement: Requirement = ()
    claims: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # (claim, allowed JSON scalars)
    plus: PlusJwt | None = None  # NGINX Plus: native auth_jwt instead of njs
    plus_maps: tuple[PlusMap, ...] = ()
    plus_policy: str | None = None
    # gRPC operations send headers with grpc_set_header (proxy_set_header does nothing there: a
    # forged identity header reached gRPC backends, found by a hunt).
    header_directive: str = "proxy_set_header"


@dataclass(frozen=True)
class AuthHttp:
    js_path: str
    js_module: str
    basic_maps: tuple[tuple[str, str], ...]  # (variable, realm)
    # (variable, variable of the case-insensitive lookup, source variable, include path, source of
    # the exact-match map)
    key_maps: tuple[tuple[str, str, str, str, str], ...]
    client_source: str | None  # "$apigen_apikey_a:$apigen_apikey_b" for $apigen_client
    auth_uris: tuple[str, ...]
    key_exact_regex: str = API_KEY_EXACT_REGEX
    plus_maps: tuple[PlusMap, ...] = ()
    uses_njs: bool = True
    query_maps: tuple[tuple[str, str], ...] = ()  # (variable, regex on $request_uri)
    cookie_dup_maps: tuple[tuple[str, str], ...] = ()  # (variable, regex on $http_cookie)
    challenge_var: str = CHALLENGE_VAR
    client_var: str = CLIENT_VAR
    cache: AuthCacheHttp | None = None  # cached JWT verifications (apigen/policies/auth_cache.py)
    auth_prefix: str = AUTH_URI_PREFIX


@dataclass
class _BuildState:
    config: Any = None
    locations: dict[tuple[str, str], AuthLocation] = field(default_factory=dict)  # (api, operationId)
    kinds: set[str] = field(default_factory=set)  # authentication kinds planned on some location
    checked: bool = False


_build = _BuildState()


def _state(config: GatewayConfig) -> _BuildState:
    global _build
    if _build.config is not config:
        _build = _BuildState(config=config)
    return _build


def include_path(config: GatewayConfig, relative: str) -> str:
    d = config.gateway.include_dir
    return f"{d.rstrip('/')}/{relative}" if d else relative


def auth_kind_names() -> set[str]:
    return {n for n, k in registry.items() if isinstance(k, AuthKind)}


def scheme_kind_names() -> set[str]:
    return {n for n, k in registry.items() if isinstance(k, AuthKind) and k.is_scheme}


# --- requirements -------------------------------------------------------------------------


def _is_unmatched(op: Operation) -> bool:
    return op.operation_id == UNMATCHED_OPERATION_ID and op.path == ""


def _merge(alt: list[Scheme]) -> tuple[Scheme, ...]:
    by_policy: dict[str, set[str]] = {}
    for s in alt:
        by_policy.setdefault(s.policy, set()).update(s.scopes)
    return tuple(Scheme(p, tuple(sorted(sc))) for p, sc in sorted(by_policy.items()))


def _openapi_alternatives(
    policy: PolicyDef, security: tuple, errors: list[tuple[str, tuple]], where: str
) -> list[list[Scheme]] | None:
    """The OpenAPI requirement mapped to policies; None when it is public (no alternative, or
    only `{}`). An empty alternative (`{}` next to others: optional authentication) stays in the
    list: the credentials a client does send are checked and its identity forwarded (it was read
    as public: a forged token went upstream unchecked and a valid one without its identity;
    found by a hunt)."""
    mapping = policy.config.get("schemes") or {}
    alts: list[list[Scheme]] = []
    for requirement in security:
        if not requirement:
            alts.append([])  # `{}`: anonymous access is one of the alternatives
            continue
        alt = []
        for scheme, scopes in sorted(requirement.items()):
            target = mapping.get(scheme)
            if target is None:
                errors.append(
                    (f"{where} requires security scheme {scheme!r}, which `schemes` does not map to a policy",
                     (*policy.path, "schemes"))
                )
                continue
            alt.append(Scheme(target, tuple(scopes)))
        alts.append(alt)
    return alts if any(alts) else None


def requirement_of(eff: EffectiveOperation, api: Api, config: GatewayConfig, errors: list[tuple[str, tuple]]) -> Requirement:
    op = eff.op
    schemes = scheme_kind_names()
    direct = [Scheme(p.policy.name) for p in eff.policies if p.policy.kind in schemes]
    where = f"operation {api.name}.{op.operation_id}" if not _is_unmatched(op) else f"API {api.name}"
    alts: list[list[Scheme]] | None = None
    for p in eff.policies:
        if p.policy.kind != "openapi_security":
            continue
        if not _is_unmatched(op):
            security = op.security if op.security is not None else api.security
            alts = _openapi_alternatives(p.policy, security, errors, where)
        else:
            alts = _unmatched_alternatives(p.policy, api, errors)
    if alts is None:
        alts = [[]] if direct else []
    if not alts:
        return ()
    # The anonymous alternative (empty) goes last: the handler tries it only after the others.
    return tuple(sorted({_merge([*alt, *direct]) for alt in alts}, key=lambda alt: (not alt, repr(alt))))


def _unmatched_alternatives(policy: PolicyDef, api: Api, errors: list) -> list[list[Scheme]] | None:
    """Unknown paths/methods of an API: any credential the API accepts (scopes dropped), so
    anonymous clients learn nothing; public when some operation of the API is public."""
    if api.security:
        alts = _openapi_alternatives(policy, api.security, [], f"API {api.name}")
    else:
        alts = []
        for op in api.operations:
            op_alts = _openapi_alternatives(policy, op.security or (), [], "")
            if op_alts is None or not all(op_alts):
                return None
            alts.extend(op_alts)
    if alts is None or not all(alts):
        return None
    return [[Scheme(s.policy) for s in alt] for alt in alts] or None


def claims_of(eff: EffectiveOperation) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    rules = []
    for p in eff.policies:
        if p.policy.kind == "claims":
            for rule in p.policy.config.get("rules") or ():
                rules.append((str(rule["claim"]), tuple(rule["in"])))
    return tuple(rules)


def requirement_id(req: Requirement, claims: tuple) -> str:
    text = json.dumps([[[s.policy, list(s.scopes)] for s in alt] for alt in req] + [list(map(list, claims))])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --- per-kind data for the njs configuration ------------------------------------------------




def _policy_forward(policy: PolicyDef, config: GatewayConfig) -> list[tuple[str, str]]:
    """(header sent upstream, variable) pairs of one authentication policy."""
    if policy.kind == "jwt":
        numbers = forward_headers(config)
        return [(h, f"apigen_fwd_{numbers[h.lower()]}") for _, h in sorted((policy.config.get("forward_claims") or {}).items())]
    header = identity_header(policy)
    if header is None:
        return []
    number = shared_identity_header(policy, config)
    if number is not None:  # shared with another policy: set by the handler (auth_files.py)
        return [(header, f"apigen_fwd_{number}")]
    if policy.kind == "api_key":
        return [(header, f"apigen_apikey_{var_slug(policy.name)}")]
    return [(header, "ssl_client_s_dn")]


def credential_header(policy: PolicyDef) -> str | None:
    """The request header carrying the policy's credential, when it is one nginx can drop
    (``hide_credentials``); None for credentials in a query argument or a cookie."""
    cfg = policy.config
    if policy.kind == "basic_auth":
        return "Authorization"
    if policy.kind == "api_key":
        return cfg.get("name", API_KEY_DEFAULT_HEADER) if cfg.get("in", "header") == "header" else None
    if policy.kind == "jwt":
        token = cfg.get("token") or {"from": "bearer"}
        return {"bearer": "Authorization", "header": token.get("name")}.get(token.get("from", "bearer"))
    return None


def hidden_credential_headers(config: GatewayConfig) -> tuple[str, ...]:
    """The credential headers of every policy with ``hide_credentials``: aggregate parts (shared
    by the operations an aggregate policy serves) never send them (found by a hunt: each part's
    upstream received the client's Authorization)."""
    names = {h for p in config.policies.values() if p.config.get("hide_credentials") and (h := credential_header(p))}
    return tuple(sorted(names, key=str.lower))


def _is_grpc(config: GatewayConfig, upstream: str) -> bool:
    u = config.upstreams.get(upstream)
    return u is not None and u.is_grpc


def identity_headers(config: GatewayConfig) -> tuple[str, ...]:
    """Every header an authentication policy of the gateway forwards upstream, sorted."""
    names = {h for p in config.policies.values() for h, _ in _policy_forward(p, config)}
    return tuple(sorted(names, key=str.lower))


def _scheme_policies_of(eff: EffectiveOperation, config: GatewayConfig) -> set[str]:
    """Every authentication policy this operation could use (for stripping forwarded headers)."""
    names = {p.policy.name for p in eff.policies if p.policy.kind in scheme_kind_names()}
    for p in eff.policies:
        if p.policy.kind == "openapi_security":
            names.update((p.policy.config.get("schemes") or {}).values())
    return {n for n in names if n in config.policies}


def plan_auth_location(eff: EffectiveOperation, api: Api, config: GatewayConfig, leader_kind: str) -> AuthLocation:
    auth = auth_kind_names()
    first = next(p for p in eff.policies if p.policy.kind in auth)
    leader = first.policy.kind == leader_kind
    req = requirement_of(eff, api, config, [])
    claims = claims_of(eff)
    in_req = {s.policy for alt in req for s in alt}
    forward: dict[str, str] = {}
    sets: dict[str, str] = {}
    for name in sorted(_scheme_policies_of(eff, config)):
        for header, var in _policy_forward(config.policies[name], config):
            used = name in in_req
            if forward.get(header):
                continue
            forward[header] = var if used else ""
            if used and var.startswith("apigen_fwd_"):
                sets[var] = "sent_http_x_apigen_fwd_" + var.removeprefix("apigen_fwd_")
    # Credentials the upstream must not see (hide_credentials), where the policy authenticates
    # the operation: an empty proxy_set_header sends no header. Only the upstream request
    # changes: auth_basic and the auth subrequest read the client's request.
    for name in sorted(in_req):
        policy = config.policies[name]
        header = credential_header(policy)
        if policy.config.get("hide_credentials") and header and header.lower() not in {h.lower() for h in forward}:
            forward[header] = ""
    # A JWT or API-key header sent twice: the verifier, the key lookup and the cache key read its
    # first copy; the upstream gets that copy only, never a second one it might read instead
    # (found by hunts: a verified token, then a known API key, went upstream with a forged one).
    for name in sorted(in_req):
        policy = config.policies[name]
        token = policy.config.get("token") or {}
        header = credential_header(policy)
        single = (policy.kind == "jwt" and token.get("from") == "header") or policy.kind == "api_key"
        if single and header and header.lower() not in {h.lower() for h in forward}:
            forward[header] = "http_" + var_slug(header)
    plus = None
    plus_maps: tuple[PlusMap, ...] = ()
    plus_policy = None
    if len(req) == 1 and len(req[0]) == 1 and config.policies[req[0][0].policy].kind == "jwt":
        policy = config.policies[req[0][0].policy]
        if native_possible(config, policy, claims):
            key_path = include_path(config, f"secrets/jwks-{policy.name}.json")
            plus, maps = plan_plus_jwt(policy, req[0][0].scopes, claims, key_path)
            plus_maps, plus_policy = tuple(maps), policy.name
            sets.clear()
            for header, var in plus.forward:
                forward[header] = var
    basic = None
    basics = sorted({n for n in in_req if config.policies[n].kind == "basic_auth"})
    if basics:
        basic = (f"apigen_basic_{var_slug(basics[0])}", include_path(config, f"secrets/htpasswd-{basics[0]}"))
    loc = AuthLocation(
        leader=leader,
        auth_uri=AUTH_URI_PREFIX + requirement_id(req, claims) if req and plus is None else None,
        basic=basic,
        sets=tuple(sorted(sets.items())),
        forward=tuple(sorted(forward.items())),
        header_directive="grpc_set_header" if _is_grpc(config, eff.upstream) else "proxy_set_header",
        requirement=req,
        claims=claims,
        plus=plus,
        plus_maps=plus_maps,
        plus_policy=plus_policy,
    )
    state = _state(config)
    state.kinds.add(leader_kind)
    if leader:
        state.locations[(api.name, eff.op.operation_id)] = loc
    return loc


def plan_auth_http(config: GatewayConfig, assets: AssetCollector | None, kind: str) -> AuthHttp | None:
    """The http/server part of every authentication kind, for the first kind in use (None for
    the others, whose partials then print nothing)."""
    state = _state(config)
    if kind != min(state.kinds):
        return None
    locations = [state.locations[k] for k in sorted(state.locations)]
    requirements: dict[str, dict] = {}
    used: set[str] = set()
    plus_policies = {loc.plus_policy for loc in locations if loc.plus_policy}
    plus_maps: dict[str, PlusMap] = {}
    for loc in locations:
        for m in loc.plus_maps:
            plus_maps[m.variable] = m
        if loc.auth_uri is None:
            continue
        used.update(s.policy for alt in loc.requirement for s in alt)
        requirements[loc.auth_uri.removeprefix(AUTH_URI_PREFIX)] = {
            "any": [[{"policy": s.policy, "scopes": list(s.scopes)} for s in alt] for alt in loc.requirement],
            "claims": [{"claim": c, "values": list(v)} for c, v in loc.claims],
            "cache_ttl": requirement_ttl(config, {s.policy for alt in loc.requirement for s in alt}),
        }
    policies: dict[str, dict] = {}
    key_maps, basic_maps = [], []
    api_key_policies = sorted(n for n, p in config.policies.items() if p.kind == "api_key")
    for name in sorted(used | set(api_key_policies) | plus_policies):
        policy = config.policies[name]
        if assets is None:
            continue
        entry = njs_policy(policy, config, assets)
        if entry is not None and name in used:
            policies[name] = entry
        if entry is not None and name in plus_policies:
            jwks = {"keys": [jwk_of(jwt_keys.VerifyKey(k["alg"], k["kid"], k["data"])) for k in entry["keys"]]}
            assets.add_text("secrets", f"jwks-{name}.json", json.dumps(jwks, indent=1, sort_keys=True) + "\n", secret=True)
            alg_var = f"apigen_jwt_alg_{var_slug(name)}".replace(".", "_")
            for var, m in list(plus_maps.items()):
                if var == alg_var:  # pin exactly the algorithms of the converted keys
                    plus_maps[var] = PlusMap(m.source, var, tuple((exact_regex(a), "1") for a in sorted({k["alg"] for k in entry["keys"]})))
        if policy.kind == "api_key":
            text = assets.read(policy.config["keys_file"], (*policy.path, "keys_file"))
            mapped = api_key_map_text(policy, text, assets) if text is not None else None
            if mapped is not None:
                asset = assets.add_text("secrets", f"apikeys-{name}.map", mapped, secret=True)
                variable, source = f"apigen_apikey_{var_slug(name)}", source_variable(policy.config)
                found = variable + "_found"
                key_maps.append((variable, found, source, include_path(config, asset.bundle_path), f"${source} ${found}"))
        if policy.kind == "basic_auth":
            text = assets.read(policy.config["htpasswd"], (*policy.path, "htpasswd"))
            if text is not None and check_htpasswd(policy, text, assets):
                assets.add_text("secrets", f"htpasswd-{name}", text, secret=True)
            basic_maps.append((f"apigen_basic_{var_slug(name)}", str(policy.config.get("realm", "api"))))
    if assets is not None and requirements:
        conf = {"prefix": AUTH_URI_PREFIX, "policies": policies, "requirements": requirements}
        text = "// Generated by apigen: authentication policies (holds secrets; mode 0600).\n"
        text += "export default " + json.dumps(conf, indent=1, sort_keys=True) + ";\n"
        assets.add_text("njs", NJS_CONFIG, text, secret=True)
    client = ":".join(f"${v}" for v, *_ in key_maps) if key_maps else None
    cache = plan_cache(config, requirements, policies, AUTH_URI_PREFIX) if assets is not None else None
    return AuthHttp(
        js_path=include_path(config, "njs"),
        js_module=include_path(config, NJS_MODULE),
        basic_maps=tuple(basic_maps),
        key_maps=tuple(key_maps),
        client_source=client,
        auth_uris=tuple(AUTH_URI_PREFIX + k for k in sorted(requirements) if not requirements[k]["cache_ttl"] or cache is None),
        plus_maps=tuple(plus_maps[v] for v in sorted(plus_maps)),
        query_maps=tuple((QUERY_VAR_PREFIX + n, f"~[?&]{re.escape(n)}=([^&#]*)") for n in query_arguments(config)),
        uses_njs=bool(requirements),
        cookie_dup_maps=tuple((cookie_dup_variable(config, n), cookie_dup_regex(n)) for n in token_cookies(config)) if requirements else (),
        cache=cache,
    )


class AuthKind(PolicyKind):
    """Base of the authentication kinds: one shared partial, one leader per location."""

    is_scheme: ClassVar[bool] = True  # can be the target of an OpenAPI scheme
    order = 20
    requires_njs = True
    guards_unmatched = True
    def error_headers(self, http_plan: Any) -> list[tuple[int, str, str]]:
        # The challenge the authentication subrequest chose, on the gateway's JSON 401/403.
        return [(401, "WWW-Authenticate", CHALLENGE_VAR), (403, "WWW-Authenticate", CHALLENGE_VAR)]

    @property
    def partial(self) -> str:
        return "policies/auth.conf.j2"

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        check_target(policy, config, source, diags)
        check_cache_listen(policy, config, source, diags)
        check_all(config, source, diags)
        if policy.config.get("hide_credentials") and credential_header(policy) is None:
            diags.error(
                "hide_credentials: nginx can drop a credential sent in a header, not one in a query argument or a cookie "
                "(a regex would remove one occurrence of several); send it in a header, or leave hide_credentials out",
                source.pos(*policy.path, "hide_credentials"),
            )

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        return plan_auth_location(eff, api, config, self.name)

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        return plan_auth_http(config, assets, self.name)

    def bundle_files(self, http_plan: Any, config: GatewayConfig, source_dir: Path) -> list[BundleFile]:
        if http_plan is None or not http_plan.uses_njs:
            return []
        from importlib import resources

        text = resources.files("apigen").joinpath("data/njs/apigen_auth.js").read_text("utf-8")
        return [BundleFile(NJS_MODULE, text)]
