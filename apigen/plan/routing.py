"""The route table: which nginx location each request path lands in, and in what order.

Layout (cost independent of the number of operations where nginx allows it):

* concrete paths become exact locations (``location = /v1/pets``): a tree lookup, no regex;
* templated paths are grouped under their literal prefix (``location ^~ /v1/pets/``), whose
  ``map`` (api_maps.conf) names the route: anchored regexes tried most specific first (OpenAPI
  precedence), consecutive siblings sharing one (``merge_siblings``); long lists are split by a
  literal segment looked up by hash (``SegmentNode``), so a request tries at most one short
  list's regexes however many routes the group has;
* each API's base path, and ``/``, are prefix locations too, so an unknown path gets a 404 scoped
  to its API.

nginx picks the longest matching prefix location, so every group must hold every templated route
that can match a URL under its prefix, including routes whose own prefix is shorter.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from apigen.diagnostics import Diagnostics, Position
from apigen.model.types import Api, GatewayConfig, Operation
from apigen.plan.paths import PathTemplate, Segment, compatible_with_prefix, join_base
from apigen.render.quoting import MAX_TOKEN_BYTES, token_bytes

RESERVED_PREFIX = "/_apigen"

# Method order in `Allow` headers and dispatch maps: RFC 9110 order, then the rest.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def method_sort_key(method: str) -> tuple[int, str]:
    return (_METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER), method)


@dataclass(frozen=True)
class Route:
    """One path (shape) of one API, with the operation each method dispatches to."""

    route_id: str  # the full path shape, e.g. /v1/pets/{}; unique in the gateway
    template: PathTemplate
    api: str
    operations: tuple[tuple[str, Operation], ...]  # (method, operation), HEAD included for GET

    @property
    def allow(self) -> str:
        return ", ".join(m for m, _ in self.operations)

    @property
    def is_exact(self) -> bool:
        return self.template.is_concrete


@dataclass(frozen=True)
class SegmentNode:
    """The routes of a group (or node) that can match URLs whose segment ``segment`` of the
    parent is ``key``: a segment trie whose edges are hash lookups.

    The parent's map looks the URL's segment up (``map "$apigen_s<n>"``, a per-request cached
    capture of segment ``n``, see ``segment_regex``); a hit continues in the node's map, a
    miss in the parent's ``flat`` routes. nginx's map keys compare ignoring ASCII case, so a node
    holds every route that can match a URL whose segment equals ``key`` in any ASCII case
    (literals that differ only in case share one node); the route regexes, tried in order and
    case-sensitively, decide. A node never falls back to its parent's list, so it ends in the
    group's 404 when none of its routes matches.
    """

    nodes: tuple[SegmentNode, ...]  # looked up first (by this node's ``segment``)
    flat: tuple[Route, ...]  # then these, in match order
    var: str = ""  # the map variable that matches under the node (see route_maps)
    key: str = ""  # the parent's lookup key: the segment, ASCII-lowercased, and "/" if more follow
    segment: int = 0  # 1-based URL segment the nodes are keyed by (0: no nodes)


@dataclass(frozen=True)
class RouteGroup:
    prefix: str  # ends with "/"
    api: str | None  # the API whose file holds the group (None: the gateway's own `/`)
    routes: tuple[Route, ...]  # every templated route that can match under the prefix, in match order
    nodes: tuple[SegmentNode, ...] = ()  # how the location nests them: these first,
    flat: tuple[Route, ...] | None = None  # then these (None: ``routes``, nothing nested)
    var: str = ""  # the map variable that names the route matched under the prefix
    segment: int = 0  # 1-based URL segment the nodes are keyed by (0: no nodes)

    @property
    def flat_routes(self) -> tuple[Route, ...]:
        return self.routes if self.flat is None else self.flat


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...]  # every route, sorted by id
    exact: tuple[Route, ...]
    groups: tuple[RouteGroup, ...]  # sorted by prefix

    def operations(self) -> Iterable[tuple[Route, str, Operation]]:
        for route in self.routes:
            for method, op in route.operations:
                yield route, method, op


def _op_position(api: Api, op: Operation, config_file: str) -> Position:
    from apigen.load.spec_loader import locate

    return locate(op.spec_uri, op.spec_path, op.spec_display or api.spec_file)


def _too_long(template: PathTemplate) -> bool:
    # Quoting and escaping make at most 16 bytes of a character (a "$" in a `set`), and a
    # parameter's regex is shorter than 16 bytes a character of its "{name}": short paths fit.
    if len(template.text) * 16 + 8 <= MAX_TOKEN_BYTES:
        return False
    # The forms a path takes in the config: exact location, regex location, `set` of its shape.
    forms = ((template.text, False), (template.regex(), False), (template.shape, True))
    return any(token_bytes(text, variables=v) > MAX_TOKEN_BYTES for text, v in forms)


MAX_LOCATION_BYTES = 255


def _fits_location(name: str) -> bool:
    return len(name.encode("utf-8", "surrogateescape")) <= MAX_LOCATION_BYTES


def group_prefix(route: Route) -> str:
    """The prefix location a route is matched under: its literal prefix (for a concrete path,
    the path up to its last ``/``), cut back to a ``/`` within nginx's location name length."""
    text = route.template.text[: route.template.text.rfind("/") + 1] if route.is_exact else route.template.literal_prefix()
    return _cap_prefix(text)


def _cap_prefix(text: str) -> str:
    """``text`` (ending in ``/``) cut back to a ``/`` within nginx's location name length."""
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_LOCATION_BYTES:
        raw = raw[: raw.rfind(b"/", 0, MAX_LOCATION_BYTES) + 1]
        text = raw.decode("utf-8", "surrogateescape")
    return text


def build_route_table(config: GatewayConfig, diags: Diagnostics, source_pos=None) -> RouteTable:
    by_shape: dict[str, dict] = {}
    for api in config.apis:
        for op in api.operations:
            template = PathTemplate(join_base(api.base_path, op.route_path))
            if template.text == RESERVED_PREFIX or template.text.startswith(RESERVED_PREFIX + "/"):
                diags.error(
                    f"path {template.text} is reserved for the gateway's internal locations",
                    _op_position(api, op, config.policy_file),
                )
                continue
            if op.method == "TRACE":
                diags.warning(
                    f"TRACE {op.path} ({op.operation_id}) is unreachable: nginx answers every TRACE "
                    "request with 405 before any location is chosen",
                    _op_position(api, op, config.policy_file),
                    code="unreachable-method",
                )
                continue
            if _too_long(template):
                diags.error(
                    f"path {template.text[:80]}... is too long for an nginx configuration token "
                    f"(at most {MAX_TOKEN_BYTES} bytes once quoted and escaped)",
                    _op_position(api, op, config.policy_file),
                )
                continue
            entry = by_shape.setdefault(template.shape, {"api": api, "template": template, "methods": {}})
            if entry["api"].name != api.name:
                other = entry["api"]
                diags.error(
                    f"APIs {other.name!r} and {api.name!r} both claim {op.method} {template.text}",
                    _op_position(api, op, config.policy_file),
                    related=(_op_position(other, next(iter(entry["methods"].values())), config.policy_file),),
                )
                continue
            taken = entry["methods"].get(op.method)
            if taken is not None:
                diags.warning(
                    f"{op.method} {op.path} ({op.operation_id}) has the same route as "
                    f"{taken.method} {taken.path} ({taken.operation_id}); requests go to {taken.operation_id}",
                    _op_position(api, op, config.policy_file),
                    code="route-alias",
                )
                continue
            entry["methods"][op.method] = op

    routes = []
    taken_ids: set[str] = set()
    for shape, entry in sorted(by_shape.items()):
        methods: dict[str, Operation] = dict(entry["methods"])
        if "GET" in methods and "HEAD" not in methods:
            methods["HEAD"] = methods["GET"]  # nginx answers HEAD from a GET handler's response
        ops = tuple(sorted(methods.items(), key=lambda kv: method_sort_key(kv[0])))
        routes.append(Route(_unique_id(shape, taken_ids), entry["template"], entry["api"].name, ops))

    _warn_ambiguous(routes, config, diags)
    # nginx keeps a location name's length in a byte (ngx_http_location_tree_node_t.len): a longer
    # `location =` or `^~` name is cut in the tree and never matches (found by a hunt: concrete
    # paths of 256 bytes and more answered 404). Such paths are matched by a group's map instead,
    # under a prefix short enough.
    is_exact = [r.is_exact and _fits_location(r.template.text) for r in routes]
    exact = tuple(r for r, e in zip(routes, is_exact, strict=True) if e)
    # One pass, not `r not in exact`: that compared routes field by field, O(n^2) (0.7 s at 10,000).
    templated = sorted((r for r, e in zip(routes, is_exact, strict=True) if not e), key=lambda r: r.template.sort_key())

    base_prefixes = {api.name: _cap_prefix(api.base_path.rstrip("/") + "/") for api in config.apis}
    prefixes = sorted({"/"} | set(base_prefixes.values()) | {group_prefix(r) for r in templated})
    members: dict[str, list[Route]] = defaultdict(list)
    for route in templated:
        own = group_prefix(route)
        # Groups at or below the route's own prefix are the only ones a matching URL can select.
        start = bisect.bisect_left(prefixes, own)
        for prefix in prefixes[start:]:
            if not prefix.startswith(own):
                break
            if prefix == own or compatible_with_prefix(route.template, prefix):
                members[prefix].append(route)

    groups = []
    above = nest_threshold(len(templated))
    for index, prefix in enumerate(prefixes):
        owner = _owner(prefix, base_prefixes)
        group_routes = tuple(members.get(prefix, ()))
        depth = prefix.count("/") - 1  # segments the prefix covers, empty ones included
        var = f"apigen_rg{index}"
        nodes, flat, segment = nest_routes(group_routes, depth, var, above)
        groups.append(RouteGroup(prefix, owner, group_routes, nodes, flat, var, segment))
    return RouteTable(tuple(routes), exact, tuple(groups))


# A route list longer than this is split by a literal segment its routes share. Each regex is a
# PCRE call for the requests that reach it (consecutive siblings share one: merge_siblings), a
# split is a hash lookup, but every map is a variable, and every request pays for every indexed
# variable: nginx zeroes a 16-byte slot for each, and ngx_http_script_run (proxy_pass with
# variables) loops over all of them. Instructions a request with merged siblings (callgrind,
# benchmarks/README.md, eleventh session), splitting above 8 / 16 / 32 / 48 / 64 routes:
# corpus 61,900 / 60,600 / 59,400 / 55,800 / 56,100 (272 maps at 8, 87 at 48); without the
# slot memset, which valgrind overcounts, 56,500 at 8 and 55,100 at 48. 1,000 synthetic
# operations: 63,200 / 58,500 / 58,500 / 59,300 (8 to 48). wrk cannot tell these apart on the
# benchmark VM (same-run differences of 0 to 10 points between runs). 10,000 operations, without
# the memset (sixteenth session): 55,100 / 54,500 / 54,700 / 55,400 at 48 / 24 / 12 / 6.
NEST_ABOVE = 48
# A split saves regexes only for the requests that reach its list, while the maps it adds cost
# every request: with traffic spread over N templated routes, a list pays for its split when it
# is longer than about N / ROUTES_PER_NEST_STEP (measured before siblings were merged: the
# 10,000-operation benchmark spec, ~5,000 templated routes, was best splitting lists above 24-64
# routes; with merged siblings it is best above 49, the largest list it has).
ROUTES_PER_NEST_STEP = 150


def nest_threshold(templated_routes: int) -> int:
    """The longest route list a gateway with ``templated_routes`` templated routes leaves unsplit."""
    return max(NEST_ABOVE, templated_routes // ROUTES_PER_NEST_STEP)


_MAX_SKIPPED_PARAMS = 2

_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lowercase like nginx's hash keys (``ngx_tolower``: ASCII letters only)."""
    return text.translate(_ASCII_UPPER)


def _key(route: Route, depth: int, skip: int) -> str | None:
    """The hash key of ``route`` at segment ``depth + skip`` when that segment is literal: its
    text, ASCII-lowercased, and "/" when more segments follow (what the split regex captures for
    every URL the route matches)."""
    segs = route.template.segments
    m = depth + skip
    if len(segs) <= m:
        return None
    seg = segs[m]
    if not (seg.is_literal and seg.literal_text):
        return None
    return ascii_lower(seg.literal_text) + ("/" if len(segs) > m + 1 else "")


def _can_match_under(route: Route, m: int, key: str) -> bool:
    """Can ``route`` match a URL whose segment ``m`` (with its "/" when more follow) is ``key``
    in some ASCII case?"""
    segs = route.template.segments
    more = key.endswith("/")
    if len(segs) <= m or (len(segs) > m + 1) != more:
        return False
    return bool(re.fullmatch(segs[m].regex(), key.removesuffix("/"), re.IGNORECASE | re.ASCII))


def nest_routes(
    routes: tuple[Route, ...], depth: int, var: str = "apigen_rg", above: int = NEST_ABOVE
) -> tuple[tuple[SegmentNode, ...], tuple[Route, ...], int]:
    """Split a list of more than ``above`` routes (whose first ``depth`` segments a URL has
    already matched) by a literal segment they share, looked up by hash, so a request tries a
    handful of regexes instead of the whole list. Returns (nodes, flat routes, 1-based segment the
    nodes are keyed by); node ``i`` is matched by the map variable ``<var>_<i>``."""
    if len(routes) <= above:
        return (), routes, 0
    best: tuple[int, int, dict[str, int]] | None = None
    for skip in range(_MAX_SKIPPED_PARAMS + 1):
        counts: dict[str, int] = defaultdict(int)
        for r in routes:
            k = _key(r, depth, skip)
            if k is not None:
                counts[k] += 1
        covered = sum(n for n in counts.values() if n >= 2)
        if counts and (best is None or covered > best[0]):
            best = (covered, skip, counts)
    if best is None:
        return (), routes, 0
    _, skip, counts = best
    # A key shared by several routes always pays; a key of its own route costs a map (a variable
    # every request allocates, see NEST_ABOVE) and is worth it only where the list stays long.
    keys = sorted(k for k, n in counts.items() if n >= 2)
    if len(routes) - sum(counts[k] for k in keys) > above:
        keys = sorted(counts)
    m = depth + skip
    nodes = []
    for i, key in enumerate(keys):
        members = tuple(r for r in routes if _can_match_under(r, m, key))
        node_var = f"{var}_{i}"
        sub_nodes, sub_flat, sub_segment = nest_routes(members, m + 1, node_var, above)
        nodes.append(SegmentNode(sub_nodes, sub_flat, node_var, key, sub_segment))
    key_set = set(keys)
    # A route whose segment is one of the keys (in any case) only matches URLs that find its node.
    flat = tuple(r for r in routes if _key(r, depth, skip) not in key_set)
    return tuple(nodes), flat, m + 1


def _unique_id(shape: str, taken: set[str]) -> str:
    """The route's id: its shape, made unique ignoring case, because nginx's ``map`` compares
    strings case-insensitively (``/Pets`` and ``/pets`` would be a conflicting map key)."""
    route_id, n = shape, 2
    while route_id.lower() in taken:
        route_id, n = f"{shape} [{n}]", n + 1
    taken.add(route_id.lower())
    return route_id


def _owner(prefix: str, base_prefixes: dict[str, str]) -> str | None:
    best: tuple[int, str] | None = None
    for api, base in sorted(base_prefixes.items()):
        if base != "/" and prefix.startswith(base) and (best is None or len(base) > best[0]):
            best = (len(base), api)
    if best is None:
        # An API at the root owns the groups no other API claims, except `/` itself.
        roots = [api for api, base in sorted(base_prefixes.items()) if base == "/"]
        if roots and prefix != "/":
            return roots[0]
        return None
    return best[1]


def _warn_ambiguous(routes: list[Route], config: GatewayConfig, diags: Diagnostics) -> None:
    """Warn about pairs of templated routes that can match the same URL when the OpenAPI rule
    (literal before parameter at the first differing segment) does not say which one wins, e.g.
    ``/{id}.json`` and ``/{name}.{ext}``. The order stays deterministic; users should know."""
    by_length: dict[int, list[Route]] = defaultdict(list)
    for r in routes:
        if not r.is_exact:
            by_length[len(r.template.segments)].append(r)
    for bucket in by_length.values():
        bucket.sort(key=lambda r: r.template.sort_key())  # match order: the first one wins
        for a, b in _candidate_pairs(bucket):
            sample = ambiguous_sample(a.template, b.template)
            if sample is None:
                continue
            diags.warning(
                f"ambiguous paths {a.template.text} and {b.template.text}: a request such as "
                f"{sample} matches both; {a.template.text} is tried first",
                _op_position(config.api(b.api), b.operations[0][1], config.policy_file),
                code="ambiguous-route",
                related=(_op_position(config.api(a.api), a.operations[0][1], config.policy_file),),
            )


def _candidate_pairs(bucket: list[Route]) -> list[tuple[Route, Route]]:
    """The pairs of ``bucket`` (same length, in match order) that ``ambiguous_sample`` can flag,
    in the order of a plain double loop. A pair is ambiguous only where the first segment whose
    shapes differ is mixed (literal text and parameters) in both, so only routes sharing every
    shape before one of their mixed segments are compared: near-linear instead of quadratic on
    10,000-operation specs, most of whose routes have no mixed segment at all."""
    index = {id(r): n for n, r in enumerate(bucket)}
    by_head: dict[tuple[str, ...], list[Route]] = defaultdict(list)
    for r in bucket:
        shapes = tuple(seg.shape for seg in r.template.segments)
        for i, seg in enumerate(r.template.segments):
            if _segment_class(seg) == 1:
                by_head[shapes[:i]].append(r)
    pairs: set[tuple[int, int]] = set()
    for members in by_head.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a is not b:
                    pairs.add((min(index[id(a)], index[id(b)]), max(index[id(a)], index[id(b)])))
    return [(bucket[i], bucket[j]) for i, j in sorted(pairs)]


def _segment_class(seg: Segment) -> int:
    return 0 if seg.is_literal else 2 if seg.is_param else 1


def ambiguous_sample(a: PathTemplate, b: PathTemplate) -> str | None:
    """A URL both templates match, when the first segment where their shapes differ does not
    rank one above the other (both mixed: literal text and parameters); otherwise ``None``."""
    if len(a.segments) != len(b.segments):
        return None
    decided = False
    differs = False
    parts = []
    for sa, sb in zip(a.segments, b.segments, strict=True):
        if sa.shape == sb.shape:
            parts.append(_fill(sa, "x"))
            continue
        if not differs:
            differs = True
            decided = _segment_class(sa) != _segment_class(sb)
            if decided:
                return None
        common = _common_text(sa, sb)
        if common is None:
            return None  # no URL matches both
        parts.append(common)
    return "/" + "/".join(parts) if differs else None


def _fill(seg: Segment, value: str) -> str:
    return "".join(text if kind == "lit" else value for kind, text in seg.parts)


def _common_text(a: Segment, b: Segment) -> str | None:
    """A segment text both match, tried from samples of each filled with the other's literals."""
    ra, rb = re.compile(a.regex()), re.compile(b.regex())
    fills_a = ["x", *(t for k, t in b.parts if k == "lit" and t)]
    fills_b = ["x", *(t for k, t in a.parts if k == "lit" and t)]
    for text in [_fill(a, f) for f in fills_a] + [_fill(b, f) for f in fills_b]:
        if ra.fullmatch(text) and rb.fullmatch(text):
            return text
    return None


# A request path whose raw form (what every operation forwards: ``$request_uri``) does not read
# as the normalised ``$uri`` nginx routes on, so the gateway could pick an operation (and its
# authentication) for one path and the upstream serve another: an encoded slash or backslash, a
# backslash, an empty segment (nginx merges slashes), or a dot segment, plain or percent-encoded,
# with or without ``;parameters`` (nginx resolves ``..``; servlet containers drop ``;...``).
# Such requests get 400 before any operation (dispatch map, ``AMBIGUOUS_PATH_TARGET``).
# nginx tests the raw path alone ($apigen_log_path: $request_uri up to "?", which the access
# log reads anyway), unanchored, so PCRE's start-character scan only stops at "%", "\\" and "/".
# (Anchored on $request_uri, "^[^?]*(?:...)" backtracked through every position of the path:
# ~1 us per request, measured; possessive quantifiers are refused by gixy's regex parser.)
# _AMBIGUOUS is the same test for Python on a whole request URI; tests check both agree.
# Also a raw ";" (servlet containers drop ";params" from a segment before routing: /users/me;x
# was authorised as the public /users/{id} and served as /users/me; clients send %3B in values),
# a raw "#" (nginx's $uri ends there, the upstream gets the rest: /public#/secret), and a dot
# segment before an encoded ";" (a rewrite decodes it; found by hunts).
# And a percent-encoded letter, digit, "-", "." or "_" (RFC 3986's unreserved characters, which
# no encoder escapes; "~" aside, which Java's URLEncoder does): /users/m%65 was the public
# /users/me for the gateway and /users/{uid} for a router matching the raw path (a hunt).
# And a percent-encoded control character (%00-%1F, %7F): PCRE and Python read "$" as "at the
# end or before a final newline", so /users/me%0A was the public /users/{id} for the
# gateway (its parameter holds the newline) and /users/me for a backend router anchored with "$"
# (Starlette, for one); no client sends a control character in a path on purpose (twelfth session).
# Factored by first character: a "/" (several in every path) tries one branch, not five.
AMBIGUOUS_PATH_REGEX = r"(?i)[;#\\]|%(?:[01][0-9a-f]|2[d-f]|3[0-9]|[46][1-9a-f]|5[0-9acf]|7[0-9af])|/(?:/|\.{1,2}(?:%3b[^/]*)?(?:/|$))"
AMBIGUOUS_PATH_SOURCE = "apigen_log_path"
# The part of the check a raw path that reads exactly as ``$uri`` can still fail (nginx keeps
# these in $uri; every other match of the full regex is something nginx decodes, merges or
# resolves, so $uri differs). The server block runs the full regex only where the two differ or
# the raw path holds one of these characters (the contents of a character class: one scan,
# planner's odd_byte_regex, also finds the bytes the access log needs to check).
AMBIGUOUS_PATH_CHARS = r";#\\"
AMBIGUOUS_PATH_TARGET = "@apigen_400"  # a named location, like every dispatch target (planner.py)
_AMBIGUOUS = re.compile(AMBIGUOUS_PATH_REGEX)


def path_is_ambiguous(request_uri: str) -> bool:
    """Does nginx answer 400 for this request URI (path and query, as sent)?"""
    return _AMBIGUOUS.search(request_uri.split("?", 1)[0]) is not None


# The route id of "no route matched": never a path (route ids start with "/"), so the dispatch
# map misses it and its fallback answers 404 (or the API's guarded 404, see UnmatchedPlan).
NOT_FOUND_ROUTE = "!404"


def not_found_route(api: str | None, guarded: bool) -> str:
    return f"{NOT_FOUND_ROUTE} {api}" if guarded and api else NOT_FOUND_ROUTE


# The hash maps look up URL segment ``n`` (with its trailing "/" when more follow) in
# ``$apigen_s<n>``: a map on ``$uri`` per segment a lookup needs, evaluated once per request and
# only when a lookup reads it. One regex per segment, not one capturing every segment: a PCRE
# interpreter run costs ~700 instructions however short the pattern, but every capture group
# adds a backtracking frame, and the seven-segment split cost 3,900 instructions a URL against
# 1,600 for a single segment's (callgrind, benchmarks/README.md).


def segment_var(n: int) -> str:
    return f"apigen_s{n}"


def segment_regex(n: int) -> str:
    """Captures (``$1``) segment ``n`` of a URL, with its "/" when more segments follow."""
    return "^/" + "[^/]*/" * (n - 1) + "([^/]*/?)"


@dataclass(frozen=True)
class CapturedRoute:
    """A map value naming one of several sibling routes by the literal segment the URL has:
    ``before`` + the regex's capture ``$1`` + ``after`` (see ``merge_siblings``)."""

    before: str
    after: str  # empty, or starts with "/": nothing can extend the one-digit ``$1``

    def route_id(self, captured: str) -> str:
        return self.before + captured + self.after


@dataclass(frozen=True)
class RouteMap:
    """A ``map`` that names the templated route a URL under a prefix matches.

    ``regex`` maps (on ``$uri``) try their regexes in order and the first match wins, like
    regex locations, but an entry costs a compiled regex instead of a location (every module's
    configuration, ~30 KiB each). Hash maps (on a URL segment) pick a node's map by the segment;
    a map whose value is another map's variable evaluates that map only when the entry is the
    one taken. No entry matches: ``default``."""

    var: str
    segment_var: str  # hash maps: the variable of the segment looked up ("": a regex map on $uri)
    default: tuple[str, bool]  # (route id or map variable, is variable)
    # (regex or key, route id or map variable or captured route id, is variable)
    entries: tuple[tuple[str, str | CapturedRoute, bool], ...]

    @property
    def source(self) -> str:
        """The source expression of a hash map: its segment's variable."""
        return f"${self.segment_var}"


def route_maps(groups: Iterable[RouteGroup], captures: frozenset[str], not_found: dict[str | None, str]) -> tuple[RouteMap, ...]:
    """The maps of every group with templated routes, parents before their nodes."""
    out: list[RouteMap] = []

    def emit(var: str, nodes: tuple[SegmentNode, ...], flat: tuple[Route, ...], segment: int, missing: str, prefix: str) -> None:
        routes = tuple((regex, value, False) for regex, value in merge_siblings(flat, prefix, captures))
        if not nodes:
            out.append(RouteMap(var, "", (missing, False), routes))
            return
        flat_var = var + "_f"
        default = (flat_var, True) if routes else (missing, False)
        out.append(RouteMap(var, segment_var(segment), default, tuple((n.key, n.var, True) for n in nodes)))
        if routes:
            out.append(RouteMap(flat_var, "", (missing, False), routes))
        for n in nodes:
            emit(n.var, n.nodes, n.flat, n.segment, missing, prefix)

    for g in groups:
        if g.routes:
            emit(g.var, g.nodes, g.flat_routes, g.segment, not_found[g.api], g.prefix)
    return tuple(out)


def _skipped_segments(template: PathTemplate, prefix: str) -> int:
    """How many leading segments of ``template`` the location of ``prefix`` already matched
    (literal, equal to the prefix's), leaving at least one."""
    segs = template.segments
    held = prefix.strip("/").split("/") if prefix != "/" else []
    k = 0
    while k < len(held) and k < len(segs) - 1 and segs[k].is_literal and segs[k].literal_text == held[k]:
        k += 1
    return k


def _skip_regex(template: PathTemplate, k: int) -> str:
    if k == 0:
        return "^/"
    skipped = len(("/" + "".join(s.literal_text + "/" for s in template.segments[:k])).encode("utf-8", "surrogateescape"))
    return f"^(?s:.{{{skipped}}})"


def prefix_skipping_regex(template: PathTemplate, prefix: str, named_captures: bool) -> str:
    """The route's regex for a map evaluated only in the location of ``prefix`` (``^~``, which
    nginx matched byte for byte, case included): the leading literal segments the prefix holds
    are skipped as a byte count, ``^(?s:.{n})``, instead of compared character by character
    (PCRE's interpreter: ~15 instructions a literal character, a skip a few for all of them).
    At least one segment is left to match, so a URL that is only the prefix still fails."""
    k = _skipped_segments(template, prefix)
    return _skip_regex(template, k) + template.tail_regex(k, named_captures)


# A merged regex stays inside nginx's token limit once quoted (map_regex_key: "~" and the
# regex), with room to spare.
_MAX_MERGED_BYTES = MAX_TOKEN_BYTES - 100


def _mergeable(route: Route, captures: frozenset[str]) -> bool:
    # Named captures number parameters from 1 (the alternation would be $1); a " [n]" id is no shape.
    return route.route_id not in captures and route.route_id == route.template.shape


def _sibling_segment(a: tuple[str, ...], b: tuple[str, ...], literal: tuple[bool, ...]) -> int | None:
    """The one segment where the segment shapes ``a`` and ``b`` differ, when it is literal text
    in both (``literal``: ``a``'s segments that are non-empty literal text); else None."""
    if len(a) != len(b):
        return None
    differ = [n for n, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(differ) != 1 or not literal[differ[0]] or "{}" in b[differ[0]] or not b[differ[0]]:
        return None
    return differ[0]


def merge_siblings(flat: tuple[Route, ...], prefix: str, captures: frozenset[str]) -> list[tuple[str, str | CapturedRoute]]:
    """The (regex, value) entries of a route list, tried in order: consecutive routes that
    differ only in one literal segment (``/a/{}/approve``, ``/a/{}/clone``) share one regex
    with that segment as an alternation, ``(approve|clone)``, whose capture rebuilds the route
    id. The literals are whole, different segments, so at most one route of a run matches a
    URL, and the run keeps its place in the list: the first match is the one the unmerged list
    gives. Each regex tried costs a PCRE call (~700 instructions) whatever it holds."""
    shapes = [tuple(s.shape for s in r.template.segments) for r in flat]
    out: list[tuple[str, str | CapturedRoute]] = []
    i = 0
    while i < len(flat):
        route = flat[i]
        segs = route.template.segments
        k = _skipped_segments(route.template, prefix)
        literal = tuple(s.is_literal and bool(s.literal_text) for s in segs)
        d = None
        end = i + 1
        if _mergeable(route, captures) and end < len(flat) and _mergeable(flat[end], captures):
            d = _sibling_segment(shapes[i], shapes[end], literal)
        if d is not None and d >= k:
            # Quoted size: the first route's regex, "()", then each sibling's literal and a "|".
            size = token_bytes("~" + prefix_skipping_regex(route.template, prefix, False)) + 2
            while end < len(flat) and _mergeable(flat[end], captures) and _sibling_segment(shapes[i], shapes[end], literal) == d:
                size += token_bytes(flat[end].template.segments[d].regex()) - 2 + 1
                if size > _MAX_MERGED_BYTES or _skipped_segments(flat[end].template, prefix) != k:
                    break
                end += 1
        if end == i + 1:
            out.append((prefix_skipping_regex(route.template, prefix, route.route_id in captures), route.route_id))
            i += 1
            continue
        assert d is not None
        run = flat[i:end]
        alternation = "(" + "|".join(r.template.segments[d].regex() for r in run) + ")"
        value = CapturedRoute("/" + "".join(s + "/" for s in shapes[i][:d]), "".join("/" + s for s in shapes[i][d + 1 :]))
        out.append((_skip_regex(route.template, k) + route.template.tail_regex(k, replaced=(d, alternation)), value))
        i = end
    return out


def split_segments(groups: Iterable[RouteGroup]) -> tuple[int, ...]:
    """The URL segments the hash maps look up (1-based, ascending; empty: no split needed)."""
    used: set[int] = set()

    def walk(nodes: tuple[SegmentNode, ...], segment: int) -> None:
        if nodes:
            used.add(segment)
        for n in nodes:
            walk(n.nodes, n.segment)

    for g in groups:
        walk(g.nodes, g.segment)
    return tuple(sorted(used))
