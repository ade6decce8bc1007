"""Turn the IR into the plan the templates render: every name, order and token decided here."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from apigen import __version__
from apigen.diagnostics import Diagnostics
from apigen.load.policy_loader import PolicySource
from apigen.model.types import Api, GatewayConfig, Operation, Timeouts, Upstream
from apigen.plan.answers import AnswerHeaderMap, answer_header_maps
from apigen.plan.assets import Asset, AssetCollector
from apigen.plan.effective import EffectiveOperation, resolve_operation
from apigen.plan.error_headers import FallbackMap, merge_error_headers
from apigen.plan.forwarding import ClientFacts, client_facts
from apigen.plan.key_checks import (
    Missing,
    claim_keys_without_auth_jwt,
    client_keys_without_api_key,
    report_claim_keys,
    report_client_keys,
)
from apigen.plan.observability import (
    NOT_UTF8,
    UTF8_ONLY,
    AccessLogPlan,
    MetricsPlan,
    TracingPlan,
    plan_access_log,
    plan_metrics,
    plan_tracing,
)
from apigen.plan.paths import PathTemplate, join_base, raw_path_regex
from apigen.plan.routing import (
    AMBIGUOUS_PATH_CHARS,
    AMBIGUOUS_PATH_REGEX,
    AMBIGUOUS_PATH_SOURCE,
    AMBIGUOUS_PATH_TARGET,
    NOT_FOUND_ROUTE,
    RouteGroup,
    RouteMap,
    RouteTable,
    build_route_table,
    not_found_route,
    route_maps,
    segment_regex,
    segment_var,
    split_segments,
)
from apigen.plan.tls import TlsPlan, UpstreamTlsPlan, plan_tls, plan_upstream_tls
from apigen.plan.tls_material import certificates_problem
from apigen.policies import UNMATCHED_OPERATION_ID, registry, size_bytes
from apigen.policies.auth import AuthLocation, identity_headers
from apigen.policies.claims import ClaimsWithoutJwt, record_claims_without_jwt, report_claims_without_jwt
from apigen.policies.headers import (
    CLIENT_HEADER,
    DoubledHeaders,
    record_doubled_response_headers,
    report_doubled_response_headers,
)
from apigen.render.quoting import Arg, bare, quote, variable
from apigen.targets import directive_available

# Where the dispatch map sends a request ($apigen_target): named locations, reached from the route
# location by `return 418` and the server's `error_page 418 = $apigen_target` (api_json_errors.conf).
# A named location keeps the client's URI, so operations proxy it as sent (`proxy_pass http://up;`
# sends the request line's URI) and nothing runs the server-level path checks again.
INTERNAL_OP_PREFIX = "@apigen_op/"
METHOD_NOT_ALLOWED_URI = "@apigen_405"
NOT_FOUND_URI = "@apigen_404"

# Every status nginx itself can produce for an API client gets a JSON body.
# A malformed or too long request line, or a client that never sends one: nginx answers these
# before any location exists, and then cannot redirect to a named location.
# 501 (an unknown Transfer-Encoding) and 505 (HTTP/2.0 in a request line) come from there too:
# they were nginx's HTML pages (found by a hunt).
REQUEST_LINE_STATUSES = frozenset({400, 408, 414, 501, 505})

ERROR_STATUSES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    414: "URI Too Long",
    # A Host that names another server than the TLS handshake's SNI name, when client certificates
    # are verified: it was nginx's HTML page (found by a hunt).
    421: "Misdirected Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


@dataclass(frozen=True)
class PolicyUse:
    kind: str
    partial: str
    plan: Any
    in_forward: bool = True  # also rendered in the forwarding location (see OperationPlan)


@dataclass(frozen=True)
class OperationPlan:
    api: str
    operation_id: str
    method: str
    path: str
    internal_uri: str
    upstream: str
    # Variable appended to http://<upstream>; "" for none: nginx sends the client's URI as it came
    # (the named operation location keeps it), or the rewritten $uri after a `rewrite`.
    upstream_uri: str
    upstream_var: str | None  # variable naming the upstream (a split), else `upstream` is used
    timeouts: Timeouts
    retries_on: tuple[str, ...]
    retries_tries: int | None
    retries_timeout: str | None
    keepalive: bool
    policies: tuple[PolicyUse, ...]
    effective: EffectiveOperation
    scheme: str = "http"  # http | https | grpc | grpcs
    content: PolicyUse | None = None  # a kind that answers itself (aggregate) instead of proxying
    websocket_idle: str | None = None  # set: the operation may upgrade to WebSocket
    grpc_path: str | None = None  # gRPC: the path sent upstream (grpc_pass takes no URI)

    @property
    def pass_target(self) -> Arg:
        """What proxy_pass / grpc_pass name after the scheme: the split's variable (the variant
        chosen per request), else the operation's upstream."""
        return variable(self.upstream_var) if self.upstream_var else bare(self.upstream)

    @property
    def grpc(self) -> bool:
        return self.scheme in ("grpc", "grpcs")

    @property
    def module(self) -> str:
        """Directive prefix of the upstream module: proxy_* or grpc_*."""
        return "grpc" if self.grpc else "proxy"
    # A policy's content-phase handler (js_content): the internal location ends in it, and the
    # handler passes accepted requests to `forward_location`, which holds the proxy_pass.
    content_handler: str | None = None
    forward_location: str | None = None
    # The gateway's default body limit, repeated where the http level allows more (see
    # body_size_ceiling) or the smallest limit of its policies; None where the level above says it.
    body_size: str | None = None
    # The gateway's own request headers (apigen/plan/forwarding.py): without those a policy of
    # the location decides (see request_headers_decided), with the identity headers auth policies
    # of the gateway forward that this operation's own auth does not set cleared.
    client_facts: ClientFacts | None = None


@dataclass(frozen=True)
class LocationPlan:
    """One internal location and the operations it serves: operations whose locations would
    render identically share one (nginx's cost grows with the number of distinct locations a
    request walks). ``$apigen_api``/``$apigen_operation`` come from maps on the route and method
    (api_maps.conf), so nothing in the location names the operation."""

    op: OperationPlan  # the first operation served: what the location renders
    operations: tuple[OperationPlan, ...]  # by path and method


@dataclass(frozen=True)
class ApiPlan:
    name: str
    file: str
    base_path: str
    exact: tuple[tuple[str, str], ...]  # (path, route_id)
    groups: tuple[RouteGroup, ...]
    operations: tuple[OperationPlan, ...]
    strip_map: tuple[str, str] | None  # (regex on $request_uri, variable) when strip_base_path
    unmatched: UnmatchedPlan | None = None  # set when API-level policies guard unknown paths
    locations: tuple[LocationPlan, ...] = ()  # the internal locations of `operations`, shared


@dataclass(frozen=True)
class UnmatchedPlan:
    """Unknown paths and undeclared methods of an API whose API-level policies guard them: they
    go to internal locations that run those policies (authentication, IP rules) and answer
    404/405 afterwards (``try_files ... =404`` runs after the access phase, ``return`` before)."""

    uri_404: str
    uri_405: str
    policies: tuple[PolicyUse, ...]
    route_id: str  # the API's not-found route: its prefix locations without routes dispatch it


@dataclass(frozen=True)
class MapEntry:
    key: str
    value: str
    variable: bool = False  # value is a variable name, not a literal


@dataclass(frozen=True)
class Plan:
    version: str
    inputs: tuple[tuple[str, str], ...]
    config: GatewayConfig
    routes: RouteTable
    upstreams: tuple[tuple[Upstream, tuple[Arg, ...]], ...]  # with the balancing directive's tokens
    upstream_zones: frozenset[str]  # upstream groups that get a shared-memory zone
    apis: tuple[ApiPlan, ...]
    root_groups: tuple[RouteGroup, ...]  # groups no API owns (always `/`)
    route_maps: tuple[RouteMap, ...]  # templated routes: a map per prefix group and node
    segment_maps: tuple[tuple[str, str], ...]  # (variable, regex capturing it): the segments the hash maps look up
    not_found: tuple[MapEntry, ...]  # not-found route id -> its 404 location
    variables_hash_max_size: int | None  # set when the route maps outgrow nginx's default
    dispatch: tuple[MapEntry, ...]
    operation_names: tuple[tuple[str, str, str], ...]  # ("<route> <method>", api, operationId)
    allow: tuple[MapEntry, ...]
    preflight: tuple[MapEntry, ...]  # "<route> <requested method>" -> CORS preflight location
    capture_routes: frozenset[str]  # route ids whose regex captures parameters by name
    map_hash_bucket_size: int
    map_hash_max_size: int
    error_statuses: tuple[tuple[int, str], ...]
    error_bodies: tuple[tuple[int, Arg], ...]  # the JSON body nginx answers each status with
    request_line_statuses: frozenset[int]  # errors nginx finds before a location exists
    error_headers: tuple[tuple[int, str, str], ...]  # (status, header, variable) from policy kinds
    error_header_maps: tuple[FallbackMap, ...]  # variables of headers several kinds name (error_headers.py)
    uses_njs: bool
    load_modules: tuple[str, ...]  # other dynamic modules policy kinds need (ModSecurity, App Protect)
    policy_http: tuple[PolicyUse, ...]  # one per kind in use: its http-level plan
    include_dir: str
    source_dir: Path  # the policy file's directory: relative paths in policies start here
    assets: tuple[Asset, ...]  # files copied into the bundle (certificates, keys, key lists)
    tls_certificate: str | None  # bundle paths of the gateway's TLS certificate and key
    tls_key: str | None
    tls_client_ca: str | None = None  # bundle path of the CA that verifies client certificates

    def unmatched_for(self, api_name: str | None) -> UnmatchedPlan | None:
        """The guarded 404/405 of an API; for the groups no API owns (``api_name`` None), of the
        one API served at ``/``, which every unknown path belongs to (an API at `/` answered an
        unknown top-level path 404 before its authentication; found by a hunt)."""
        api_name = api_name or self.root_api
        return next((a.unmatched for a in self.apis if a.name == api_name), None)

    @property
    def root_api(self) -> str | None:
        """The API served at ``/`` (when one is): every path no other API has is one of its."""
        at_root = [a.name for a in self.apis if not (a.base_path or "").strip("/")]
        return at_root[0] if len(at_root) == 1 else None

    @property
    def unmatched_dispatch(self) -> tuple[MapEntry, ...]:
        """route -> 405 location, for the routes of APIs that guard undeclared methods (the
        dispatch map's default then goes through ``$apigen_method_fallback``)."""
        guarded = {a.name: a.unmatched.uri_405 for a in self.apis if a.unmatched}
        return tuple(MapEntry(r.route_id, guarded[r.api]) for r in self.routes.routes if r.api in guarded)
    tls: TlsPlan | None = None
    upstream_tls: dict[str, UpstreamTlsPlan] | None = None  # by upstream name
    provided_variables: frozenset[str] = frozenset()  # variables the kinds in use define
    http2_on: bool = False  # `http2 on;` (1.25.1+) rather than `listen ... http2`
    http2_listen_param: bool = False
    http2_cleartext: tuple[str, ...] = ()
    grpc_error_statuses: tuple[tuple[int, int, str], ...] = ()  # (http status, grpc code, message)
    access_log: AccessLogPlan | None = None
    metrics: MetricsPlan | None = None
    tracing: TracingPlan | None = None
    server_names: tuple[str, ...] = ("_",)
    reject_unknown_hosts: bool = False  # a default server answers 444 to host names not in server_name
    ssl_reject_handshake: bool = False  # the target can refuse TLS handshakes for unknown names
    asset_inputs: tuple[Path, ...] = ()  # every file the policies read (keys, certificates, ...)
    client_max_body_size: str = "1m"  # of the http level: body_size_ceiling
    # Raw paths that do not read as the normalised URI: 400 (see routing.AMBIGUOUS_PATH_REGEX).
    ambiguous_path_regex: str = AMBIGUOUS_PATH_REGEX
    ambiguous_path_source: str = AMBIGUOUS_PATH_SOURCE
    ambiguous_path_target: str = AMBIGUOUS_PATH_TARGET
    method_not_allowed_target: str = METHOD_NOT_ALLOWED_URI
    not_found_target: str = NOT_FOUND_URI
    answer_maps: tuple[AnswerHeaderMap, ...] = ()  # headers error answers repeat (plan/answers.py)
    # "<route> <method>" -> the decoded parameters a rewrite sends upstream (a ";" in them: 400)
    rewrite_checks: tuple[tuple[str, Arg], ...] = ()

    def checks_rewrite(self, group: RouteGroup) -> bool:
        """Does the route location of ``group`` add the rewrite check: has one of
        its routes an operation in ``rewrite_checks``?"""
        routes = {key.rsplit(" ", 1)[0] for key, _ in self.rewrite_checks}
        return any(r.route_id in routes for r in group.routes)

    @property
    def route_body_limit(self) -> str | None:
        """``client_max_body_size`` of the route locations. nginx checks a Content-Length in the
        location it first finds: above the gateway-wide limit, the 413 came from the route
        location, before it named the operation, so it lacked the operation's CORS and response
        headers (found by a hunt). Where error answers carry such headers, the route locations
        leave the check to the operation's location (its own limit, or the gateway's)."""
        return "0" if self.answer_maps else None

    def _checked_body_limit(self, op: OperationPlan) -> int | None:
        """The operation's body limit in bytes, where it is below the one its route location
        checked. nginx compares Content-Length with ``client_max_body_size`` only when it looks
        a location up, and the jump to the named operation location looks nothing up (chunked
        and HTTP/2 bodies are still counted against the operation's limit as they are read)."""
        route = self.route_body_limit or self.client_max_body_size
        own = op.body_size or self.client_max_body_size
        return None if _size_bytes(own) >= _size_bytes(route) else size_bytes(own)

    def body_check(self, op: OperationPlan) -> str | None:
        """The variable that says a request's Content-Length is over the operation's limit
        (``_checked_body_limit``), or None where the route location's check covers it."""
        limit = self._checked_body_limit(op)
        return None if limit is None else _body_over_variable(limit)

    @property
    def body_checks(self) -> tuple[tuple[str, str], ...]:
        """(variable, regex on $content_length) of every ``body_check`` in use."""
        limits = {n for a in self.apis for o in a.operations if (n := self._checked_body_limit(o)) is not None}
        return tuple((_body_over_variable(n), greater_than_regex(n)) for n in sorted(limits))
    # The header aggregate parts receive the client's identity in: every operation location sets
    # it too (the verified client, or nothing), so a client cannot send it to the same upstreams.
    client_header: str | None = None
    client_header_value: Arg | None = None  # `$apigen_client` where an auth kind provides it, else ""

    def include(self, relative: str) -> str:
        return f"{self.include_dir.rstrip('/')}/{relative}" if self.include_dir else relative

    # One scan of the raw path (api_maps.conf) for the bytes two checks need: >= 0x80 for the
    # default access log's path field (escape=json copies them as they are, so a path that is not
    # UTF-8 made the line invalid JSON; found by a hunt), which only such paths check against the
    # UTF-8 regex; and ";", "#" and "\", which make a raw path that reads as $uri ambiguous
    # (the server block runs the full check for them).
    odd_byte_regex = "~[\\x80-\\xff" + AMBIGUOUS_PATH_CHARS + "]"
    utf8_regex = "~" + UTF8_ONLY
    not_utf8 = NOT_UTF8


# Gateway errors on gRPC operations: HTTP status -> gRPC status code (grpc/doc/statuscodes.md).
GRPC_ERRORS: tuple[tuple[int, int, str], ...] = (
    (400, 3, "invalid argument"),
    (401, 16, "unauthenticated"),
    (403, 7, "permission denied"),
    (404, 12, "unimplemented"),
    (405, 12, "unimplemented"),
    (408, 4, "deadline exceeded"),
    (413, 8, "resource exhausted"),
    (429, 8, "resource exhausted"),
    (500, 13, "internal"),
    (502, 14, "unavailable"),
    (503, 14, "unavailable"),
    (504, 4, "deadline exceeded"),
)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "op"


def _next_pow2(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


def balance_tokens(balance: str) -> tuple[Arg, ...]:
    """``least_conn`` -> (least_conn,); ``hash $remote_addr consistent`` -> (hash, "$remote_addr",
    consistent). The hash key is made of variables by schema, so it is evaluated on purpose."""
    if balance == "round_robin":
        return ()
    words = balance.split(" ")
    if words[0] == "hash":
        return (bare("hash"), quote(words[1]), *(bare(w) for w in words[2:]))
    return tuple(bare(w) for w in words)


def forward_location(internal_uri: str) -> str:
    """Named location that proxies an operation whose internal location ends in a content handler
    (the njs validator computes the same name from ``r.uri``)."""
    return "@apigen_fwd" + internal_uri


def _strip_variables(config: GatewayConfig) -> dict[str, str]:
    """The variable holding the URI without the base path, per API that strips it. Unique: API
    names `a-b` and `a_b` would both give `apigen_strip_a_b`, and the second map would win."""
    out: dict[str, str] = {}
    for api in config.apis:
        if api.strip_base_path and api.base_path:
            base = var = f"apigen_strip_{slug(api.name).replace('-', '_').replace('.', '_')}"
            n = 2
            while var in out.values():
                var, n = f"{base}_{n}", n + 1
            out[api.name] = var
    return out


def _operation_plan(
    api: Api,
    op: Operation,
    eff: EffectiveOperation,
    config: GatewayConfig,
    uri: str,
    strip_vars: dict[str, str],
    body_ceiling: str,
    identity: tuple[str, ...] = (),
) -> OperationPlan:
    upstream: Upstream = config.upstreams[eff.upstream]
    retries = upstream.retries
    by_kind: dict[str, list[Any]] = {}
    for p in eff.policies:
        if p.policy.kind in registry:
            by_kind.setdefault(p.policy.kind, []).append(
                registry[p.policy.kind].plan_location(p.policy, eff, api, config)
            )
    combined = {kind: iter(registry[kind].combine(plans)) for kind, plans in by_kind.items()}
    uses = tuple(
        PolicyUse(
            p.policy.kind,
            registry[p.policy.kind].partial,
            next(combined[p.policy.kind]),
            registry[p.policy.kind].in_forward_location,
        )
        for p in eff.policies
        if p.policy.kind in registry
    )
    content = next((u for u in uses if registry[u.kind].content), None)
    websocket = next((u.plan.idle_timeout for u in uses if u.kind == "websocket"), None)
    timeouts = eff.timeouts
    if websocket:
        timeouts = Timeouts(timeouts.connect, websocket, timeouts.send or websocket)
    upstream_uri = strip_vars.get(api.name, "")
    upstream_var = None
    for use in uses:
        kind = registry[use.kind]
        upstream_var = kind.upstream_variable(use.plan) or upstream_var
        override = kind.upstream_uri(use.plan)
        upstream_uri = upstream_uri if override is None else override
    content_handler = next((h for u in uses if (h := getattr(u.plan, "content_handler", None))), None)
    # One client_max_body_size per location (nginx refuses a second): the smallest limit of
    # the operation's policies (a body_limit and the validator's buffer), else the gateway's
    # default when the http level was raised above it.
    own_limits = [s for p in eff.policies if p.policy.kind in registry and (s := registry[p.policy.kind].max_body_size(p.policy))]
    default_size = config.gateway.client_max_body_size
    raised = _size_bytes(body_ceiling) != _size_bytes(default_size)
    return OperationPlan(
        api=api.name,
        operation_id=op.operation_id,
        method=op.method,
        path=op.path,
        internal_uri=uri,
        upstream=eff.upstream,
        upstream_uri=upstream_uri,
        upstream_var=upstream_var,
        timeouts=timeouts,
        retries_on=retries.on if retries else (),
        retries_tries=retries.tries if retries else None,
        retries_timeout=retries.timeout if retries else None,
        keepalive=bool(upstream.keepalive),
        policies=uses,
        effective=eff,
        scheme=upstream.scheme,
        content=content,
        websocket_idle=websocket,
        grpc_path=(op.route_path if api.strip_base_path else join_base(api.base_path, op.route_path))
        if upstream.is_grpc
        else None,
        content_handler=content_handler,
        forward_location=forward_location(uri) if content_handler else None,
        body_size=min(own_limits, key=_size_bytes) if own_limits else default_size if raised else None,
        client_facts=client_facts(
            config,
            host=not upstream.is_grpc,
            decided=frozenset().union(*(registry[u.kind].request_headers_decided(u.plan) for u in uses)),
            cleared=_cleared_identity(uses, identity),
        ),
    )


def _cleared_identity(uses: tuple[PolicyUse, ...], identity: tuple[str, ...]) -> tuple[str, ...]:
    forwarded = {h.lower() for u in uses if isinstance(u.plan, AuthLocation) for h, _ in u.plan.forward}
    return tuple(h for h in identity if h.lower() not in forwarded)


def _size_bytes(size: str) -> float:
    """An nginx size ("512k", "10m", "1g"; "0" is no limit) in bytes."""
    return float("inf") if size.strip() == "0" else float(size_bytes(size))


def _body_over_variable(limit: int) -> str:
    return f"apigen_body_over_{limit}"


def greater_than_regex(n: int) -> str:
    """A regex matching the decimal numbers above ``n`` (leading zeros allowed, as nginx parses
    Content-Length): more digits, or the same digits up to one that is larger."""
    digits = str(n)
    alternatives = [rf"[1-9]\d{{{len(digits)},}}"]
    for i, d in enumerate(digits):
        if d != "9":
            rest = len(digits) - i - 1
            alternatives.append(digits[:i] + f"[{int(d) + 1}-9]" + (rf"\d{{{rest}}}" if rest else ""))
    return "^0*(?:" + "|".join(alternatives) + ")$"


def body_size_ceiling(config: GatewayConfig) -> str:
    """The body limit of the http level: the largest any operation allows. nginx checks
    Content-Length in every location it selects, the route location (which inherits the http
    level) before the operation's: with the gateway default there, an operation allowing more
    answered 413 to a client sending Content-Length (found live); each operation location then
    states its own limit (a policy's, or the default again)."""
    sizes = [config.gateway.client_max_body_size]
    for policy in config.policies.values():
        size = registry[policy.kind].max_body_size(policy) if policy.kind in registry else None
        if size is not None:
            sizes.append(size)
    return max(sizes, key=_size_bytes)


def _sharing_key(op: OperationPlan) -> object:
    """What an operation's internal location renders from, without what names the operation:
    equal keys render the same location text (the policy partials see only their plan objects,
    frozen dataclasses compared by value). A plan that cannot be hashed shares nothing."""
    key = replace(op, operation_id="", method="", path="", internal_uri="", effective=None, forward_location=None)  # type: ignore[arg-type]
    try:
        hash(key)
    except TypeError:
        return op.internal_uri
    return key


def _share_locations(ops: list[OperationPlan]) -> tuple[list[OperationPlan], tuple[LocationPlan, ...]]:
    """Give operations that render the same location one internal URI: the own URI of the one
    with the first path and method. Not document order: reordering a spec's paths renamed shared
    locations, and `apigen diff` reported operations added and removed (found by a hunt). Not
    the operationId either: renaming one operation would rename the location of others."""
    groups: dict[object, list[OperationPlan]] = {}
    for op in ops:
        groups.setdefault(_sharing_key(op), []).append(op)
    shared = {}
    for members in groups.values():
        first = min(members, key=lambda o: (o.path, o.method, o.operation_id))
        shared.update((member.internal_uri, first.internal_uri) for member in members)
    out = []
    for op in ops:
        uri = shared[op.internal_uri]
        out.append(replace(op, internal_uri=uri, forward_location=forward_location(uri) if op.content_handler else None))
    by_uri: dict[str, list[OperationPlan]] = {}
    for op in out:
        by_uri.setdefault(op.internal_uri, []).append(op)
    locations = tuple(
        LocationPlan(members[0], tuple(members))
        for _, members in sorted(by_uri.items())
        for members in [sorted(members, key=lambda o: (o.path, o.method, o.operation_id))]
    )
    return out, locations


def _error_bodies(config: GatewayConfig) -> tuple[tuple[int, Arg], ...]:
    from apigen.policies.errors import DEFAULT_TEMPLATE, gateway_error_template, render_body

    template = gateway_error_template(config) or DEFAULT_TEMPLATE
    return tuple((status, render_body(template, status, reason)) for status, reason in sorted(ERROR_STATUSES.items()))


def make_plan(config: GatewayConfig, diags: Diagnostics, source: PolicySource | None = None) -> Plan:
    table = build_route_table(config, diags)
    assets = AssetCollector(source, diags) if source is not None else None
    tls = config.gateway.tls
    tls_client_ca = None
    if tls is not None and assets is not None and tls.client_certificate:
        ca = assets.public_file(tls.client_certificate, (*tls.path, "client_certificate"))
        tls_client_ca = ca.bundle_path if ca else None
        problem = certificates_problem(ca.text, "CA certificate") if ca else None
        if problem and source is not None:
            diags.error(problem, source.pos(*tls.path, "client_certificate"))
    tls_plan = plan_tls(config, assets, source, diags) if assets is not None and source is not None else None
    tls_cert = tls_plan.default_certificate if tls_plan else None
    tls_key = tls_plan.default_key if tls_plan else None
    upstream_tls: dict[str, UpstreamTlsPlan] = {}
    if assets is not None and source is not None:
        for u in config.upstreams.values():
            utls = plan_upstream_tls(u, assets, source, diags)
            if utls is not None:
                upstream_tls[u.name] = utls
    # Internal location of each operation: @apigen_op/<api>/<operationId>, made unique.
    internal: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    for api in config.apis:
        for op in api.operations:
            base = f"{INTERNAL_OP_PREFIX}{slug(api.name)}/{slug(op.operation_id)}"
            uri, n = base, 2
            # Unique ignoring case: maps keyed on the internal URI (plan/answers.py) look up
            # lowercased keys, and operationIds may differ only in case.
            while uri.lower() in used:
                uri, n = f"{base}_{n}", n + 1
            used.add(uri.lower())
            internal[(api.name, op.operation_id)] = uri

    routed = {(op.api, op.operation_id) for _, _, op in table.operations()}
    strip_vars = _strip_variables(config)
    body_ceiling = body_size_ceiling(config)
    identity = identity_headers(config)
    api_plans = []
    claim_keys_missing: Missing = {}
    claims_missing: ClaimsWithoutJwt = {}
    client_keys_missing: Missing = {}
    doubled_headers: DoubledHeaders = {}
    for api in config.apis:
        ops = []
        for op in api.operations:
            if (api.name, op.operation_id) not in routed:
                continue  # an alias of another operation's route: never reached
            eff = resolve_operation(api, op, config, diags, source)
            ops.append(
                _operation_plan(api, op, eff, config, internal[(api.name, op.operation_id)], strip_vars, body_ceiling, identity)
            )
            if config.target.is_plus:
                claim_keys_without_auth_jwt(ops[-1], claim_keys_missing)
            client_keys_without_api_key(ops[-1], config, client_keys_missing)
            record_claims_without_jwt(ops[-1], config, claims_missing)
            record_doubled_response_headers(ops[-1], doubled_headers)
            if ops[-1].grpc and not PathTemplate(op.route_path).is_concrete and source is not None:
                diags.error(
                    f"{api.name}.{op.operation_id}: a gRPC operation needs a concrete path "
                    f"(/package.Service/Method), not {op.path!r}",
                    source.pos(*api.path, "upstream"),
                )
        ops, locations = _share_locations(ops)
        ops.sort(key=lambda p: p.internal_uri)
        unmatched = _unmatched_plan(api, config, diags, source)
        strip = None
        if api.strip_base_path and api.base_path:
            var = strip_vars[api.name]
            strip = ("~^" + raw_path_regex(api.base_path) + "(/.*)$", var)
        api_plans.append(
            ApiPlan(
                name=api.name,
                file=f"api_conf.d/{slug(api.name)}.conf",
                base_path=api.base_path,
                exact=tuple((r.template.text, r.route_id) for r in table.exact if r.api == api.name),
                groups=tuple(g for g in table.groups if g.api == api.name),
                operations=tuple(ops),
                strip_map=strip,
                unmatched=unmatched,
                locations=locations,
            )
        )

    if claim_keys_missing and source is not None:
        report_claim_keys(claim_keys_missing, config, diags, source)
    if client_keys_missing and source is not None:
        report_client_keys(client_keys_missing, config, diags, source)
    if claims_missing and source is not None:
        report_claims_without_jwt(claims_missing, diags, source)
    if doubled_headers and source is not None:
        report_doubled_response_headers(doubled_headers, diags, source)
    dispatch = []
    operation_names = []
    allow = []
    preflight = []
    op_plans = {(o.api, o.operation_id): o for a in api_plans for o in a.operations}
    for route in table.routes:
        allow.append(MapEntry(route.route_id, route.allow))
        for method, op in route.operations:
            op_plan = op_plans.get((op.api, op.operation_id))
            uri = op_plan.internal_uri if op_plan else internal[(op.api, op.operation_id)]
            dispatch.append(MapEntry(f"{route.route_id} {method}", uri))
            operation_names.append((f"{route.route_id} {method}", op.api, op.operation_id))
        if "OPTIONS" in dict(route.operations):
            continue  # the spec's own OPTIONS operation answers preflights
        # CORS preflights: OPTIONS dispatches on the method the browser asks about.
        for method, op in route.operations:
            op_plan = op_plans.get((op.api, op.operation_id))
            uris = [registry[u.kind].preflight_uri(u.plan) for u in op_plan.policies] if op_plan else []
            uri = next((u for u in uris if u), None)
            if uri:
                preflight.append(MapEntry(f"{route.route_id} {method}", uri))
        if preflight and preflight[-1].key.startswith(route.route_id + " "):
            dispatch.append(MapEntry(f"{route.route_id} OPTIONS", "apigen_preflight", variable=True))
    guarded_404 = {a.name: a.unmatched.uri_404 for a in api_plans if a.unmatched}
    not_found_ids: dict[str | None, str] = {None: NOT_FOUND_ROUTE}
    not_found_ids |= {api.name: not_found_route(api.name, api.name in guarded_404) for api in config.apis}
    not_found = [MapEntry(NOT_FOUND_ROUTE, NOT_FOUND_URI)]
    not_found += [MapEntry(not_found_ids[name], uri) for name, uri in sorted(guarded_404.items())]
    # Rewritten operations whose upstream path holds decoded parameters: "<route> <method>" ->
    # those parameters, joined by "/" (never in a parameter): a ";" in them makes the path
    # ambiguous (api_maps.conf, $apigen_rewrite_ambiguous).
    rewrite_checks = []
    for route in table.routes:
        for method, op in route.operations:
            o = op_plans.get((op.api, op.operation_id))
            used = [v for u in (o.policies if o else ()) for v in registry[u.kind].decoded_path_captures(u.plan)]
            if used:
                value = Arg('"' + "/".join("${" + v + "}" for v in dict.fromkeys(used)) + '"')
                rewrite_checks.append((f"{route.route_id} {method}", value))
    capture_routes = frozenset(
        route.route_id
        for route in table.routes
        for _, op in route.operations
        if (o := op_plans.get((op.api, op.operation_id))) and any(registry[u.kind].needs_path_captures(u.plan) for u in o.policies)
    )
    maps = route_maps(table.groups, capture_routes, not_found_ids)
    # nginx sizes map buckets in bytes: a non-ASCII path takes up to 4 per character.
    longest = max((len(e.key.encode()) for e in (*dispatch, *allow)), default=16)
    uses_by_location = [o.policies for a in api_plans for o in a.operations]
    uses_by_location += [a.unmatched.policies for a in api_plans if a.unmatched]
    kinds_in_use = sorted({u.kind for uses in uses_by_location for u in uses})
    policy_http = []
    for kind_name in kinds_in_use:
        kind = registry[kind_name]
        instances = [u.plan for uses in uses_by_location for u in uses if u.kind == kind_name]
        policy_http.append(PolicyUse(kind_name, kind.partial, kind.plan_http(instances, config, assets)))
    provided = frozenset(v for k in kinds_in_use for v in registry[k].provides)
    tracing = plan_tracing(config, source, diags)
    access_log = plan_access_log(config, provided, tracing is not None, source, diags)
    http2_on = config.gateway.http2 and directive_available(config.target, "http2")
    server_names = list(config.gateway.server_names)
    if tls_plan is not None:
        server_names += [n for c in config.gateway.tls.certificates for n in c.server_names if n not in server_names]  # type: ignore[union-attr]
    has_grpc = any(o.grpc for a in api_plans for o in a.operations)
    answer_maps = answer_header_maps(api_plans)
    # The answer maps are keyed on internal URIs, which hold operationIds of any length.
    longest = max([longest, *(len(uri.encode()) for m in answer_maps for uri, _ in m.entries)])
    error_headers, error_header_maps = merge_error_headers(
        h for u in policy_http for h in registry[u.kind].error_headers(u.plan)
    )
    # The answer maps stay apart: a header two policies append is sent twice on purpose.
    error_headers += tuple((status, m.header, m.var) for m in answer_maps for status in ERROR_STATUSES)
    return Plan(
        version=__version__,
        inputs=config.input_digests,
        config=config,
        routes=table,
        upstreams=tuple((u, balance_tokens(u.balance)) for u in config.upstreams.values()),
        # Health checks and slow_start (NGINX Plus) need the group's state in shared memory; so
        # do passive health (max_fails, by default 1 in 10 s) and max_conns on OSS, which each
        # worker would otherwise count on its own (a failed server went on getting requests from
        # the other workers, found live), for every group with a server to fail over to.
        upstream_zones=frozenset(
            {z for u in policy_http for z in registry[u.kind].upstream_zones(u.plan)}
            | {
                u.name
                for u in config.upstreams.values()
                if len(u.servers) > 1 or any(s.slow_start or s.max_conns for s in u.servers)
            }
        ),
        apis=tuple(api_plans),
        root_groups=tuple(g for g in table.groups if g.api is None),
        route_maps=maps,
        segment_maps=tuple((segment_var(n), segment_regex(n)) for n in split_segments(table.groups)),
        not_found=tuple(not_found),
        # Every map is a variable: with nginx's default variables hash (1024, buckets of 64
        # bytes) nginx -t warns "could not build optimal variables_hash" from ~100 route maps on.
        variables_hash_max_size=max(2048, _next_pow2(4 * (len(maps) + 512))) if maps else None,
        dispatch=tuple(dispatch),
        operation_names=tuple(operation_names),
        allow=tuple(allow),
        preflight=tuple(preflight),
        capture_routes=capture_routes,
        rewrite_checks=tuple(rewrite_checks),
        map_hash_bucket_size=max(128, _next_pow2(2 * (longest + 16))),
        map_hash_max_size=max(4096, _next_pow2(len(dispatch) * 4)),
        error_statuses=tuple(sorted(ERROR_STATUSES.items())),
        error_bodies=_error_bodies(config),
        request_line_statuses=REQUEST_LINE_STATUSES,
        error_headers=tuple(sorted(error_headers)),
        error_header_maps=error_header_maps,
        answer_maps=answer_maps,
        client_header=CLIENT_HEADER if any(u.kind == "aggregate" for u in policy_http) else None,
        client_header_value=Arg("$apigen_client") if "apigen_client" in provided else quote(""),
        uses_njs=any(registry[u.kind].requires_njs for u in policy_http),
        load_modules=tuple(sorted({m for u in policy_http for m in registry[u.kind].load_modules(u.plan)})),
        policy_http=tuple(policy_http),
        include_dir=config.gateway.include_dir,
        source_dir=source.base_dir if source is not None else Path("."),
        assets=tuple(sorted(assets.assets.values(), key=lambda a: a.bundle_path)) if assets else (),
        asset_inputs=tuple(dict.fromkeys(assets.read_paths)) if assets else (),
        client_max_body_size=body_ceiling,
        tls_certificate=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        tls=tls_plan,
        upstream_tls=upstream_tls,
        provided_variables=provided,
        http2_on=http2_on,
        http2_listen_param=config.gateway.http2 and not http2_on,
        http2_cleartext=tuple(str(listen) for listen in config.gateway.http2_cleartext),
        grpc_error_statuses=GRPC_ERRORS if has_grpc else (),
        access_log=access_log,
        metrics=plan_metrics(config),
        tracing=tracing,
        server_names=tuple(server_names),
        reject_unknown_hosts="_" not in config.gateway.server_names,
        ssl_reject_handshake=directive_available(config.target, "ssl_reject_handshake"),
    )



def _unmatched_plan(api: Api, config: GatewayConfig, diags: Diagnostics, source: PolicySource | None) -> UnmatchedPlan | None:
    # A stand-in operation with no tags and the document's security: what the API level says.
    stand_in = Operation(api=api.name, operation_id=UNMATCHED_OPERATION_ID, method="*", path="", route_path="")
    eff = resolve_operation(api, stand_in, config)
    uses = tuple(
        PolicyUse(p.policy.kind, registry[p.policy.kind].partial, registry[p.policy.kind].plan_location(p.policy, eff, api, config))
        for p in eff.policies
        if p.policy.kind in registry and registry[p.policy.kind].guards_unmatched
    )
    if not uses:
        return None
    base = f"@apigen_unmatched/{slug(api.name)}"
    return UnmatchedPlan(f"{base}/404", f"{base}/405", uses, not_found_route(api.name, True))
