"""The lint rules: each has an id, a default severity, a one-line summary and a fix hint.

A rule is a function of a :class:`LintContext` (the checked IR and the plan) that yields
:class:`~apigen.diagnostics.Diagnostic`s whose ``code`` is the rule id. Rules that the compiler
itself reports as warnings (``route-alias``, ``ambiguous-route``) are listed with ``check=None`` so
they can be re-levelled and disabled like the others.

Findings about many operations of one API are reported once per API, at the API's entry in the
policy file (where the fix goes), except for operations that have their own ``operations:`` entry:
those are reported there, so an inline ``# apigen-lint: disable=...`` can silence one of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from apigen.diagnostics import Diagnostic, Diagnostics, Position, Severity
from apigen.lint.kinds import (
    AUTH_KINDS,
    PLUS_ONLY_BALANCE,
    PLUS_ONLY_KEYS,
    RATE_LIMIT_KINDS,
    SPEC_AUTH_KINDS,
    SPLIT_KINDS,
    WRITE_METHODS,
)
from apigen.load.policy_loader import PolicySource
from apigen.model.types import Api, Attachment, GatewayConfig, Operation
from apigen.plan.effective import EffectiveOperation
from apigen.plan.paths import join_base
from apigen.plan.planner import Plan
from apigen.plan.routing import Route
from apigen.policies import COMPOSITE_REASON, registry
from apigen.policies.jwt_keys import EC_ALGS, RSA_ALGS
from apigen.validate.semantic import select_operations

# Sane upper bounds for proxy timeouts, in seconds. nginx documents that a connect timeout
# "usually cannot exceed 75 seconds"; reads and sends above five minutes hold workers and
# connections for clients that have long given up.
MAX_CONNECT_S = 75
MAX_READ_SEND_S = 300
MAX_LISTED = 5  # operations named in an aggregated message


@dataclass
class LintContext:
    source: PolicySource
    config: GatewayConfig
    plan: Plan
    validate: Diagnostics  # what the compiler reported (warnings only: errors stop before lint)

    def effective(self) -> Iterator[tuple[Api, EffectiveOperation]]:
        for api_plan in self.plan.apis:
            api = self.config.api(api_plan.name)
            for op in api_plan.operations:
                yield api, op.effective

    def api_pos(self, api: Api) -> Position:
        return self.source.pos(*api.path, "name")

    def own_attachment(self, api: Api, op: Operation) -> Attachment | None:
        """The ``operations:`` entry of ``api`` that selects ``op`` (first by selector), if any."""
        for selector in sorted(api.operations_attachments):
            if op in select_operations(api, selector):
                return api.operations_attachments[selector]
        return None


Check = Callable[[LintContext], Iterable[Diagnostic]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str
    hint: str
    check: Check | None = None  # None: reported by the compiler itself

    def finding(self, message: str, position: Position | None, **kw: Any) -> Diagnostic:
        return Diagnostic(self.severity, message, position, code=self.id, hint=self.hint, **kw)


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: Severity, summary: str, hint: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        RULES[rule_id] = Rule(rule_id, severity, summary, hint, check)
        return check

    return register


def _compiler_rule(rule_id: str, severity: Severity, summary: str, hint: str) -> None:
    RULES[rule_id] = Rule(rule_id, severity, summary, hint, None)


def _op_label(api: Api, op: Operation) -> str:
    return f"{op.method} {join_base(api.base_path, op.path)} ({op.operation_id})"


def _listed(api: Api, ops: list[Operation]) -> str:
    names = ", ".join(f"{o.method} {join_base(api.base_path, o.path)}" for o in ops[:MAX_LISTED])
    return names + (f" and {len(ops) - MAX_LISTED} more" if len(ops) > MAX_LISTED else "")


def _per_api(
    ctx: LintContext, r: Rule, bad: list[tuple[Api, Operation]], single: str, many: str
) -> Iterator[Diagnostic]:
    """One finding per explicitly configured operation, one per API for the rest.
    ``single`` is formatted with ``op``; ``many`` with ``n``, ``api`` and ``ops``."""
    rest: dict[str, list[Operation]] = {}
    apis: dict[str, Api] = {}
    for api, op in bad:
        att = ctx.own_attachment(api, op)
        if att is not None:
            yield r.finding(single.format(op=_op_label(api, op)), ctx.source.pos(*att.path, key=True))
        else:
            rest.setdefault(api.name, []).append(op)
            apis[api.name] = api
    for name, ops in sorted(rest.items()):
        ops.sort(key=lambda o: (o.path, o.method))
        if len(ops) == 1:
            yield r.finding(single.format(op=_op_label(apis[name], ops[0])), ctx.api_pos(apis[name]))
        else:
            yield r.finding(many.format(n=len(ops), api=name, ops=_listed(apis[name], ops)), ctx.api_pos(apis[name]))


def _has_kind(eff: EffectiveOperation, kinds: frozenset[str]) -> bool:
    return any(p.policy.kind in kinds for p in eff.policies)


def per_operation_rule(
    rule_id: str, severity: Severity, summary: str, hint: str, single: str, many: str
) -> Callable[[Callable[[Api, EffectiveOperation], bool]], Check]:
    """A rule that flags operations for which ``predicate(api, eff)`` holds, reported with
    :func:`_per_api` (``single`` names ``{op}``; ``many`` names ``{n}``, ``{api}``, ``{ops}``)."""

    def register(predicate: Callable[[Api, EffectiveOperation], bool]) -> Check:
        def check(ctx: LintContext) -> Iterator[Diagnostic]:
            bad = [(api, eff.op) for api, eff in ctx.effective() if predicate(api, eff)]
            yield from _per_api(ctx, RULES[rule_id], bad, single, many)

        RULES[rule_id] = Rule(rule_id, severity, summary, hint, check)
        return check

    return register


@per_operation_rule(
    "write-without-auth",
    Severity.WARNING,
    "A write operation (POST, PUT, PATCH, DELETE) has no authentication policy.",
    "attach an authentication policy (jwt, api_key, basic_auth, mtls, openapi_security) with `use:` on the API, tag or operation",
    "write operation {op} has no authentication",
    "{n} write operations of API {api!r} have no authentication: {ops}",
)
def write_without_auth(api: Api, eff: EffectiveOperation) -> bool:
    return eff.op.method in WRITE_METHODS and not _authenticated(api, eff)


def _authenticated(api: Api, eff: EffectiveOperation) -> bool:
    """An authentication policy applies, or one that enforces the document's `security` where the
    document secures the operation."""
    return _has_kind(eff, AUTH_KINDS) or (_has_kind(eff, SPEC_AUTH_KINDS) and _spec_requires_auth(api, eff.op))


@rule(
    "no-rate-limit",
    Severity.WARNING,
    "No operation of an API is rate limited.",
    "define a `kind: rate_limit` policy and attach it with `use:` on the gateway or the API",
)
def no_rate_limit(ctx: LintContext) -> Iterator[Diagnostic]:
    limited: dict[str, bool] = {}
    for api, eff in ctx.effective():
        limited[api.name] = limited.get(api.name, False) or _has_kind(eff, RATE_LIMIT_KINDS)
    for api in ctx.config.apis:
        if api.operations and not limited.get(api.name, False):
            yield RULES["no-rate-limit"].finding(f"API {api.name!r} has no rate limit", ctx.api_pos(api))


def _spec_requires_auth(api: Api, op: Operation) -> bool:
    security = op.security if op.security is not None else api.security
    # An empty alternative (`{}`) in the list makes authentication optional.
    return bool(security) and all(len(alt) > 0 for alt in security)


@per_operation_rule(
    "spec-secured-policy-open",
    Severity.WARNING,
    "The OpenAPI document requires authentication for an operation, but no authentication policy applies.",
    "attach the authentication policy that implements the document's security scheme",
    "the OpenAPI document secures {op} but the policy leaves it open",
    "the OpenAPI document secures {n} operations of API {api!r} that the policy leaves open: {ops}",
)
def spec_secured_policy_open(api: Api, eff: EffectiveOperation) -> bool:
    return _spec_requires_auth(api, eff.op) and not _authenticated(api, eff)


@per_operation_rule(
    "policy-secured-spec-open",
    Severity.INFO,
    "The policy requires authentication for an operation the OpenAPI document marks public (`security: []`).",
    "remove the authentication policy with `skip:` on the operation, or fix the document's `security`",
    "the OpenAPI document marks {op} public but the policy requires authentication",
    "the OpenAPI document marks {n} operations of API {api!r} public but the policy requires authentication: {ops}",
)
def policy_secured_spec_open(api: Api, eff: EffectiveOperation) -> bool:
    return eff.op.security is not None and len(eff.op.security) == 0 and _has_kind(eff, AUTH_KINDS)


def _attachments(config: GatewayConfig) -> Iterator[Attachment]:
    yield config.gateway.attachment
    for api in config.apis:
        yield api.attachment
        yield from api.tags.values()
        yield from api.operations_attachments.values()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _used_policies(config: GatewayConfig) -> set[str]:
    """Names of the policies something uses: a `use:` list, or another policy that names them
    (a limit keyed by an auth policy's client, the scheme map of `openapi_security`)."""
    used = {name for att in _attachments(config) for name in att.use}
    for policy in config.policies.values():
        used.update(s for s in _strings(dict(policy.config)) if s != policy.name)
    return used


@rule(
    "unused-policy",
    Severity.WARNING,
    "A policy is defined but no gateway, API, tag or operation uses it.",
    "attach it with `use:` where it should apply, or delete it",
)
def unused_policy(ctx: LintContext) -> Iterator[Diagnostic]:
    used = _used_policies(ctx.config)
    for name, policy in sorted(ctx.config.policies.items()):
        if name not in used:
            yield RULES["unused-policy"].finding(
                f"policy {name!r} ({policy.kind}) is never used", ctx.source.pos(*policy.path, key=True)
            )


def _public_key_algorithms(keys: Any) -> list[str]:
    """The public-key algorithms (RS*, PS*, ES*) among a `jwt` policy's keys, as the policy file
    states them: a PEM key is one; a JWKS whose algorithms sit in the file is not judged here."""
    found = set()
    for key in keys if isinstance(keys, list) else []:
        if not isinstance(key, dict):
            continue
        alg = str(key.get("alg") or "")
        if alg in RSA_ALGS or alg in EC_ALGS or (not alg and "pem" in key):
            found.add(alg or "PEM key")
    return sorted(found)


@rule(
    "jwt-verified-every-request",
    Severity.INFO,
    "A `jwt` policy with a public key (RS*, PS*, ES*) and no `cache` checks the signature in njs on every request (NGINX OSS).",
    "add `cache: {listen: \"127.0.0.1:<port>\", ttl: 30}` to the policy to reuse successful verifications "
    "(a revoked token then stays accepted for up to `ttl` seconds), or accept the cost",
)
def jwt_verified_every_request(ctx: LintContext) -> Iterator[Diagnostic]:
    # njs 0.7.9 keeps nothing between requests: every check imports the key, which OpenSSL 3.0
    # decodes from scratch, then verifies (benchmarks/README.md: RS256 ~7 % of the no-auth
    # throughput, 69 % with the cache). On Plus, auth_jwt verifies natively where it applies.
    if ctx.config.target.is_plus:
        return
    used = _used_policies(ctx.config)
    for name, policy in sorted(ctx.config.policies.items()):
        if policy.kind != "jwt" or name not in used:
            continue
        cache = policy.config.get("cache")
        if isinstance(cache, dict) and cache.get("ttl") != 0:  # `ttl: 0` turns the cache off
            continue
        token = policy.config.get("token") or {}
        if isinstance(token, dict) and token.get("from") == "query":
            continue  # tokens in a query argument are never cached: nothing to suggest
        algs = _public_key_algorithms(policy.config.get("keys"))
        if algs:
            yield RULES["jwt-verified-every-request"].finding(
                f"policy {name!r} (jwt, {', '.join(algs)}) checks a public-key signature in njs on every request: "
                "no `cache`",
                ctx.source.pos(*policy.path, key=True),
            )


@rule(
    "inactive-on-composite",
    Severity.WARNING,
    "A policy that acts on the proxied request (cache, split, rewrite, websocket, request headers) is attached "
    "to a composite operation, which answers from its aggregate parts and never proxies itself.",
    "leave the policy off the composite operation (`skip:` it there), or attach it to the operations the parts call",
)
def inactive_on_composite(ctx: LintContext) -> Iterator[Diagnostic]:
    found: dict[tuple[str, str], list[Operation]] = {}
    apis: dict[str, Api] = {}
    for api, eff in ctx.effective():
        for p in eff.policies:
            kind = registry.get(p.policy.kind)
            if kind is not None and kind.inactive_reason(p.policy, eff) == COMPOSITE_REASON:
                found.setdefault((api.name, p.policy.name), []).append(eff.op)
                apis[api.name] = api
    for (api_name, name), ops in sorted(found.items()):
        api, policy = apis[api_name], ctx.config.policies[name]
        att = ctx.own_attachment(api, ops[0]) if len(ops) == 1 else None
        where = ctx.source.pos(*att.path, key=True) if att is not None else ctx.api_pos(api)
        yield RULES["inactive-on-composite"].finding(
            f"policy {name!r} ({policy.kind}) does nothing on {_listed(api, ops)}: {COMPOSITE_REASON}", where
        )


@rule(
    "single-server-upstream",
    Severity.INFO,
    "An upstream has a single server and no backup: one failure takes the API down.",
    "add a second server or a `backup: true` server",
)
def single_server_upstream(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, upstream in sorted(ctx.config.upstreams.items()):
        live = [s for s in upstream.servers if not s.down]
        if len(live) == 1 and not live[0].backup:
            yield RULES["single-server-upstream"].finding(
                f"upstream {name!r} has a single server ({live[0].address}) and no backup",
                ctx.source.pos(*upstream.path, key=True),
            )


_DURATION = re.compile(r"^([0-9]+)(ms|s|m|h|d)?$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def duration_seconds(text: str | int | None) -> float | None:
    if text is None:
        return None
    m = _DURATION.match(str(text))
    return int(m.group(1)) * _UNIT_S[m.group(2)] if m else None


@rule(
    "timeout-too-long",
    Severity.WARNING,
    f"A proxy timeout is above a sane bound (connect {MAX_CONNECT_S}s, read/send/retries {MAX_READ_SEND_S}s).",
    "lower the timeout; long-running work belongs in an asynchronous API, not a held connection",
)
def timeout_too_long(ctx: LintContext) -> Iterator[Diagnostic]:
    r = RULES["timeout-too-long"]
    places: list[tuple[tuple[Hashable, ...], Any]] = []
    for upstream in ctx.config.upstreams.values():
        places.append((upstream.path, upstream.timeouts))
    places += [(att.path, att.timeouts) for att in _attachments(ctx.config) if att.level != "gateway"]
    for path, timeouts in places:
        for field, bound in (("connect", MAX_CONNECT_S), ("read", MAX_READ_SEND_S), ("send", MAX_READ_SEND_S)):
            value = getattr(timeouts, field)
            seconds = duration_seconds(value)
            if seconds is not None and seconds > bound:
                yield r.finding(
                    f"{field} timeout {value} is above {bound}s", ctx.source.pos(*path, "timeouts", field)
                )
    for upstream in ctx.config.upstreams.values():
        value = upstream.retries.timeout if upstream.retries else None
        seconds = duration_seconds(value)
        if seconds is not None and seconds > MAX_READ_SEND_S:
            yield r.finding(
                f"retries timeout {value} is above {MAX_READ_SEND_S}s",
                ctx.source.pos(*upstream.path, "retries", "timeout"),
            )


def _keys(value: Any, path: tuple[Hashable, ...]) -> Iterator[tuple[tuple[Hashable, ...], str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k), str(k), v
            yield from _keys(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _keys(v, (*path, i))


def _upstream_refs(value: Any, path: tuple[Hashable, ...]) -> Iterator[tuple[tuple[Hashable, ...], str]]:
    """Every ``upstream: NAME`` inside a policy's configuration, with its data path."""
    for at, key, v in _keys(value, path):
        if key == "upstream" and isinstance(v, str):
            yield at, v


@rule(
    "split-same-upstream",
    Severity.WARNING,
    "Two variants of a traffic split send requests to the same upstream: the split changes nothing.",
    "point each variant at its own upstream (or remove the split)",
)
def split_same_upstream(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, policy in sorted(ctx.config.policies.items()):
        if policy.kind not in SPLIT_KINDS:
            continue
        seen: dict[str, tuple[Hashable, ...]] = {}
        # Overrides are not variants: each pins some requests to one, and a header and a cookie
        # that both force the canary is the usual setup (found by a hunt: it was reported as
        # "two variants use upstream 'canary'", with a hint to remove the split).
        variants = {k: v for k, v in policy.config.items() if k != "overrides"}
        for path, upstream in _upstream_refs(variants, policy.path):
            if upstream in seen:
                yield RULES["split-same-upstream"].finding(
                    f"split {name!r}: two variants use upstream {upstream!r}",
                    ctx.source.pos(*path),
                    related=(ctx.source.pos(*seen[upstream]),),
                )
            else:
                seen[upstream] = path


@rule(
    "plus-only-on-oss",
    Severity.ERROR,
    "The policy asks for an NGINX Plus feature but the target is NGINX OSS.",
    "set `target: {flavor: plus}` or remove the feature",
)
def plus_only_on_oss(ctx: LintContext) -> Iterator[Diagnostic]:
    target = ctx.config.target
    if target.is_plus:
        return
    have = target.version + (0,) * (3 - len(target.version))
    reported = {d.position for d in ctx.validate if d.position is not None}
    for path, key, value in _keys(ctx.source.data, ()):
        if key == "lint":
            continue
        feature = None
        if key in PLUS_ONLY_KEYS and value not in (None, False):
            feature = PLUS_ONLY_KEYS[key]
        elif key == "balance" and isinstance(value, str) and value.split(" ")[0] in PLUS_ONLY_BALANCE:
            feature = PLUS_ONLY_BALANCE[value.split(" ")[0]]
        if feature is None:
            continue
        what, oss_since = feature
        if oss_since is not None and have >= oss_since:
            continue
        position = ctx.source.pos(*path)
        if position in reported:
            continue  # the compiler said so already, at the same place
        needs = "NGINX Plus" if oss_since is None else f"NGINX Plus or nginx >= {'.'.join(map(str, oss_since))}"
        yield RULES["plus-only-on-oss"].finding(
            f"{what}: needs {needs} (target is nginx {target.version_str})", position
        )


@rule(
    "shadowed-route",
    Severity.WARNING,
    "An exact path takes requests a templated path of the same API expects, for methods it does not serve.",
    "add the missing methods to the concrete path in the OpenAPI document, or rename one of the paths",
)
def shadowed_route(ctx: LintContext) -> Iterator[Diagnostic]:
    templated: list[Route] = [r for r in ctx.plan.routes.routes if not r.is_exact]
    for exact in ctx.plan.routes.exact:
        url = exact.template.text
        mine = {m for m, _ in exact.operations}
        for other in templated:
            if other.api != exact.api or not other.template.compiled.match(url):
                continue
            lost = sorted({m for m, _ in other.operations} - mine - {"HEAD"})
            if not lost:
                continue
            api = ctx.config.api(exact.api)
            yield RULES["shadowed-route"].finding(
                f"{', '.join(lost)} {url} answers 405: the exact path {url} ({', '.join(sorted(mine - {'HEAD'}))}) "
                f"shadows {other.template.text}",
                ctx.api_pos(api),
            )


_compiler_rule(
    "route-alias",
    Severity.WARNING,
    "Two operations of the OpenAPI document have the same method and route; only the first is reachable.",
    "merge the operations, or give one a different path",
)
_compiler_rule(
    "ambiguous-route",
    Severity.WARNING,
    "Two templated paths can match the same URL with no OpenAPI rule to prefer one.",
    "make the paths distinct (a literal segment), or accept the order shown",
)
_compiler_rule(
    "unreachable-method",
    Severity.WARNING,
    "An operation's method never reaches a location (nginx answers TRACE itself, with 405).",
    "drop the operation, or serve it on another method",
)
_compiler_rule(
    "split-variant-settings",
    Severity.WARNING,
    "The upstreams of a split differ in timeouts, retries or keepalive, but every variant is proxied "
    "with the settings of the operation's own upstream.",
    "give the variants the same timeouts, retries and keepalive",
)
_compiler_rule(
    "unroutable-path",
    Severity.WARNING,
    "A path of the OpenAPI document can never be matched as written: it holds a query, a dot "
    "segment or an empty segment, which nginx removes before routing, or a `;` (also a matrix-style "
    "parameter), which the gateway refuses in a raw path.",
    "write the path as clients' requests reach it (normalised)",
)
_compiler_rule(
    "servers-override-ignored",
    Severity.WARNING,
    "A path item or an operation of the OpenAPI document has `servers` of its own (other than the "
    "document's): the gateway routes every operation under the API's one base path (the document's "
    "first server, or base_path).",
    "serve those operations as another API of the policy (with its own base_path), or drop the override",
)
_compiler_rule(
    "undefined-server-variable",
    Severity.WARNING,
    "The document's first server URL names a variable its `variables` does not define: the base "
    "path reads it as empty.",
    "define the variable with a default, or set base_path on the API in the policy",
)
_compiler_rule(
    "security-scheme-mismatch",
    Severity.WARNING,
    "An openapi_security policy maps a scheme of the document to a policy that cannot take what the "
    "scheme tells clients to send (another place or name for an API key, another kind of credential).",
    "map the scheme to a policy of its kind that reads the same place and name",
)
_compiler_rule(
    "rewrite-no-match",
    Severity.WARNING,
    "A rewrite policy's replace_prefix matches none of the operations it is attached to.",
    "write the prefix as the gateway sees paths (base path included)",
)
_compiler_rule(
    "empty-api",
    Severity.WARNING,
    "An API of the policy has no operation to route (its document has no paths).",
    "point `spec` at the document that holds the paths, or drop the API",
)
