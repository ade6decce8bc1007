"""``kind: aggregate`` - one operation answered from several backend calls made in parallel.

The operation's location ends in ``js_content`` (njs ``apigen_aggregate.js``): it issues one
``r.subrequest`` per part to an internal location ``/_apigen/part/<policy>/<part>/`` that proxies
to the part's upstream with the gateway's usual proxy settings, waits for all of them, and answers
one JSON object. Subrequests share the parent's request headers and variables, so the client's
credentials, the auth identity and the request id reach every part.

Path parameters are read in njs from ``$request_uri`` with a regex built here (one capture per
parameter, in order); query values may use the client's raw arguments (``$arg_<name>``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as url_quote

from apigen.plan.forwarding import ClientFacts, client_facts
from apigen.plan.paths import PathTemplate, join_base, pcre_escape
from apigen.policies import BundleFile, PolicyKind, register, size_without_g
from apigen.policies.auth import hidden_credential_headers, identity_headers
from apigen.policies.errors import njs_error_body

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef, Upstream
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation

PART_PREFIX = "/_apigen/part/"
NJS_FILE = "njs/apigen_aggregate.js"
_REF = re.compile(r"\{([^{}]*)\}")
_QUERY_REF = re.compile(r"^query\.([A-Za-z0-9_]{1,64})$")
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class PartLocation:
    """One internal location per part of a policy (shared by every operation using it)."""

    uri: str  # ends in "/": the njs handler appends the part's path without its leading "/"
    upstream: Upstream
    read_timeout: str | None
    connect_timeout: str | None
    max_size: str
    keepalive: bool
    # The upstream's own send timeout and retries, as its operation locations have them (found
    # by a hunt: parts waited nginx's 60 s default and never tried the next server).
    send_timeout: str | None = None
    retries_on: tuple[str, ...] = ()
    retries_tries: int | None = None
    retries_timeout: str | None = None

    @property
    def strip_regex(self) -> str:
        """The part's path after the location prefix, for ``rewrite ... $1 break`` (``(?s)``: a
        decoded parameter may hold a line feed, and a URI the rewrite left alone would go
        upstream with the internal prefix)."""
        return f"(?s)^{pcre_escape(self.uri[:-1])}(/.*)$"


@dataclass(frozen=True)
class AggregateLocation:
    key: str  # "<api>.<operationId>": the handler's entry in the generated njs config
    js_config: dict[str, Any]
    parts: tuple[PartLocation, ...]


@dataclass(frozen=True)
class AggregateHttp:
    js_import: str  # bundle path of the njs module (include_dir applied)
    parts: tuple[PartLocation, ...]  # every part location, once, sorted by uri
    composites: tuple[tuple[str, str], ...]  # (key, JSON config), sorted
    # The gateway's request headers (apigen/plan/forwarding.py). A part is a subrequest carrying
    # the client's own headers, so the headers authentication policies send upstream as the
    # verified identity (X-Client-Name, forwarded claims, ...) are cleared there (a client could
    # send them; the identity goes as X-Apigen-Client), and so are the credential headers
    # policies hide (hide_credentials).
    client_facts: ClientFacts | None = None


def _tokens(template: str, *, query_ok: bool) -> list[Any]:
    """``/users/{id}`` -> ["/users/", {"path": "id"}]; ``{query.q}`` -> {"query": "q"}."""
    out: list[Any] = []
    pos = 0
    for m in _REF.finditer(template):
        if m.start() > pos:
            out.append(template[pos : m.start()])
        ref = m.group(1)
        q = _QUERY_REF.match(ref)
        out.append({"query": q.group(1)} if q and query_ok else {"path": ref})
        pos = m.end()
    if pos < len(template):
        out.append(template[pos:])
    return out


def _refs(template: str) -> list[str]:
    return _REF.findall(template)


def _js_regex(template: PathTemplate) -> str:
    """Anchored regex on the raw request path with one capture per path parameter."""
    segs = []
    for seg in template.segments:
        segs.append("".join(pcre_escape(text) if kind == "lit" else "([^/?]+)" for kind, text in seg.parts))
    return "^/" + "/".join(segs) + "(?:\\?|$)"


def _part_uri(policy: str, part: str) -> str:
    return f"{PART_PREFIX}{policy}/{part}/"


class Aggregate(PolicyKind):
    name = "aggregate"
    order = 900  # after auth and limits: those must run on the composite request first
    requires_njs = True
    content = True

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        seen: set[str] = set()
        for i, part in enumerate(policy.config["parts"]):
            where = (*policy.path, "parts", i)
            if part["name"] in seen:
                diags.error(f"duplicate part name {part['name']!r}", source.pos(*where, "name"))
            seen.add(part["name"])
            upstream = config.upstreams.get(part["upstream"])
            if upstream is None:
                diags.error(f"unknown upstream {part['upstream']!r}", source.pos(*where, "upstream"))
            elif upstream.is_grpc:
                diags.error("an aggregate part cannot call a gRPC upstream", source.pos(*where, "upstream"))
            for ref in _refs(part["path"]):
                if not _PARAM_NAME.match(ref) or ref.startswith("query."):
                    diags.error(
                        f"path placeholder {{{ref}}}: only path parameters of the operation may appear in a path",
                        source.pos(*where, "path"),
                    )
            for name, value in (part.get("query") or {}).items():
                for ref in _refs(value):
                    if not (_QUERY_REF.match(ref) or _PARAM_NAME.match(ref)):
                        diags.error(f"bad placeholder {{{ref}}}", source.pos(*where, "query", name))
        # Path placeholders must be parameters of every operation the policy is attached to.
        from apigen.plan.effective import resolve_operation

        for api in config.apis:
            for op in api.operations:
                if not _mentions(api, policy.name, config):
                    continue
                eff = resolve_operation(api, op, config)
                if not any(p.policy.name == policy.name for p in eff.policies):
                    continue
                params = set(PathTemplate(op.route_path).param_names)
                for i, part in enumerate(policy.config["parts"]):
                    refs = [r for r in _refs(part["path"])]
                    refs += [
                        r for v in (part.get("query") or {}).values() for r in _refs(v) if not r.startswith("query.")
                    ]
                    for ref in refs:
                        if ref not in params:
                            diags.error(
                                f"{{{ref}}} is not a path parameter of {api.name}.{op.operation_id} ({op.method} {op.path})",
                                source.pos(*policy.path, "parts", i, "path"),
                            )

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        cfg = policy.config
        template = PathTemplate(join_base(api.base_path, eff.op.route_path))
        default_on_error = cfg.get("on_error", "fail")
        parts_js = []
        locations = []
        for part in cfg["parts"]:
            upstream = config.upstreams[part["upstream"]]
            timeout = _duration(part.get("timeout"))
            locations.append(
                PartLocation(
                    uri=_part_uri(policy.name, part["name"]),
                    upstream=upstream,
                    read_timeout=timeout or upstream.timeouts.read,
                    connect_timeout=upstream.timeouts.connect,
                    max_size=size_without_g(cfg.get("max_part_size", "1m")),
                    keepalive=bool(upstream.keepalive),
                    send_timeout=upstream.timeouts.send,
                    retries_on=upstream.retries.on if upstream.retries else (),
                    retries_tries=upstream.retries.tries if upstream.retries else None,
                    retries_timeout=upstream.retries.timeout if upstream.retries else None,
                )
            )
            query = []
            for name, value in sorted((part.get("query") or {}).items()):
                tokens = [t if isinstance(t, dict) else url_quote(t, safe="") for t in _tokens(value, query_ok=True)]
                query.append([url_quote(name, safe=""), tokens])
            parts_js.append(
                {
                    "name": part["name"],
                    "location": _part_uri(policy.name, part["name"]).rstrip("/"),
                    "path": _tokens(part["path"], query_ok=False),
                    "query": query,
                    "pass_query": bool(part.get("pass_query", False)),
                    "required": part.get("on_error", default_on_error) == "fail",
                }
            )
        js = {
            "regex": _js_regex(template),
            "params": list(template.param_names),
            "merge": cfg.get("merge", "keyed"),
            "parts": parts_js,
        }
        return AggregateLocation(f"{api.name}.{eff.op.operation_id}", js, tuple(locations))

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        parts = {p.uri: p for inst in instances for p in inst.parts}
        include_dir = config.gateway.include_dir.rstrip("/")
        return AggregateHttp(
            js_import=f"{include_dir}/{NJS_FILE}" if include_dir else NJS_FILE,
            parts=tuple(parts[u] for u in sorted(parts)),
            composites=tuple(sorted((i.key, json.dumps(i.js_config, sort_keys=True)) for i in instances)),
            client_facts=client_facts(
                config,
                host=False,  # the part location sends Host itself, before its own comment
                note=False,
                cleared=tuple(dict.fromkeys((*identity_headers(config), *hidden_credential_headers(config)))),
            ),
        )

    def bundle_files(self, http_plan: Any, config: GatewayConfig, source_dir: Path) -> list[BundleFile]:
        body = ",\n".join(f"    {json.dumps(key)}: {cfg}" for key, cfg in http_plan.composites)
        text = _NJS_HEAD + "var COMPOSITES = {\n" + body + "\n};\n"
        text += njs_error_body(config) + _NJS_BODY
        return [BundleFile(NJS_FILE, text)]


def _mentions(api: Api, name: str, config: GatewayConfig) -> bool:
    atts = [config.gateway.attachment, api.attachment, *api.tags.values(), *api.operations_attachments.values()]
    return any(name in a.use for a in atts)


def _duration(value: Any) -> str | None:
    if value is None:
        return None
    return f"{value}s" if isinstance(value, int) else str(value)


_NJS_HEAD = """\
// Generated by apigen: composite operations (kind: aggregate). njs 0.7.9 compatible:
// no optional chaining, destructuring or spread.

"""

_NJS_BODY = r"""
for (var key in COMPOSITES) {
    COMPOSITES[key].re = new RegExp(COMPOSITES[key].regex);
}

function fill(tokens, r, params, forQuery) {
    var out = '';
    for (var i = 0; i < tokens.length; i++) {
        var t = tokens[i];
        if (typeof t === 'string') {
            out += t;
        } else if (t.query !== undefined) {
            // The client's argument as sent (still percent-encoded): only ever used in a query.
            out += r.variables['arg_' + t.query] || '';
        } else {
            var v = params[t.path] || '';
            // Path values are decoded: nginx escapes the subrequest URI; query values need encoding.
            out += forQuery ? encodeURIComponent(v) : v;
        }
    }
    return out;
}

function answer(r, status, body) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(status, JSON.stringify(body) + '\n');
}

// The gateway's own error answer (errorBody: apigen.policies.errors), the failing part named.
function fail(r, status, reason, rid, extra) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(status, errorBody(status, reason, rid, extra));
}

// A part's query parameter built from client arguments the client did not send is left out
// (`limit=` would be a value a strict upstream refuses).
function absent(tokens, r) {
    for (var i = 0; i < tokens.length; i++) {
        var t = tokens[i];
        if (typeof t !== 'string' && t.query !== undefined && r.variables['arg_' + t.query] === undefined) {
            return true;
        }
    }
    return false;
}

function call(r, part, params) {
    var args = [];
    for (var i = 0; i < part.query.length; i++) {
        if (!absent(part.query[i][1], r)) {
            args.push(part.query[i][0] + '=' + fill(part.query[i][1], r, params, true));
        }
    }
    if (part.pass_query && r.variables.args) {
        args.push(r.variables.args);
    }
    var uri = part.location + fill(part.path, r, params, false);
    return r.subrequest(uri, {method: 'GET', args: args.join('&')}).then(
        function (reply) { return {part: part, status: reply.status, body: reply.responseText, cut: cutShort(reply)}; },
        function (e) { return {part: part, status: 0, error: String(e)}; }
    );
}

// An upstream that fails in the middle of its body (read timeout, connection lost) still ends
// the subrequest with its 200, and a timed-out one with no body at all, which read as JSON null:
// `{"part": null}`, whatever on_error said (found by a hunt). Cut short: fewer bytes than its
// Content-Length, or, without one, no body although more than an empty chunked body ("0" CRLF
// CRLF, 5 bytes) came from the upstream.
function cutShort(reply) {
    var length = reply.headersOut['Content-Length'];
    var body = reply.responseBuffer;
    var size = body ? body.length : 0;
    if (length !== undefined) {
        return Number(length) !== size;
    }
    var read = String(reply.variables.upstream_response_length || '').split(', ').pop();
    return size === 0 && Number(read) > 5;
}

function aggregate(r) {
    var c = COMPOSITES[r.variables.apigen_api + '.' + r.variables.apigen_operation];
    var rid = r.variables.apigen_request_id;
    if (!c) {
        fail(r, 500, 'Internal Server Error', rid, {});
        return;
    }
    var m = r.variables.request_uri.match(c.re);
    var params = {};
    try {
        for (var i = 0; i < c.params.length; i++) {
            params[c.params[i]] = decodeURIComponent(m[i + 1]);
        }
    } catch (e) {
        fail(r, 400, 'Bad Request', rid, {});
        return;
    }
    // nginx re-escapes a part's path without ";": a parameter sent as "me%3Bx" would reach the
    // part's upstream as /users/me;x, which servlet containers read as /users/me (found by a
    // hunt). Refused, as a raw ";" in the client's path is.
    for (var p = 0; p < c.parts.length; p++) {
        for (var t = 0; t < c.parts[p].path.length; t++) {
            var tok = c.parts[p].path[t];
            if (typeof tok !== 'string' && (params[tok.path] || '').indexOf(';') !== -1) {
                fail(r, 400, 'Bad Request', rid, {});
                return;
            }
        }
    }
    // Every part starts before any is awaited: they run in parallel.
    var calls = [];
    for (var j = 0; j < c.parts.length; j++) {
        calls.push(call(r, c.parts[j], params));
    }
    Promise.all(calls).then(function (results) {
        var out = {};
        var errors = [];
        for (var k = 0; k < results.length; k++) {
            var res = results[k];
            var name = res.part.name;
            var problem = null;
            var value = null;
            if (res.status < 200 || res.status > 299) {
                problem = res.status ? 'upstream answered ' + res.status : res.error;
            } else if (res.cut) {
                problem = 'response cut short';
            } else {
                try {
                    value = JSON.parse(res.body || 'null');
                } catch (e) {
                    problem = 'response is not JSON';
                }
                if (!problem && c.merge === 'top_level'
                    && (value === null || typeof value !== 'object' || Array.isArray(value))) {
                    problem = 'response is not a JSON object';
                }
            }
            if (problem) {
                if (res.part.required) {
                    fail(r, 502, 'Bad Gateway', rid, {part: name, detail: problem});
                    return;
                }
                errors.push({part: name, status: res.status, error: problem});
                continue;
            }
            if (c.merge === 'top_level') {
                for (var f in value) {
                    out[f] = value[f];
                }
            } else {
                out[name] = value;
            }
        }
        if (errors.length) {
            out._errors = errors;
        }
        answer(r, 200, out);
    }).catch(function (e) {
        r.error('aggregate: ' + e);
        fail(r, 500, 'Internal Server Error', rid, {});
    });
}

export default {aggregate};
"""


register(Aggregate())
