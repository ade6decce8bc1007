"""``kind: errors`` - the JSON error body of the gateway, and upstream errors mapped to it.

``template`` (attach the policy under ``gateway.use``) is the body of every error the gateway
answers: JSON text with the placeholders ``{status}`` (a number), ``{message}`` (a JSON string),
``{request_id}`` (a JSON string). It is checked to be JSON at build time.

``intercept`` (any level): upstream answers with these statuses are replaced by the gateway's
JSON body (``proxy_intercept_errors``). nginx applies a location's ``error_page`` list instead
of the server's, so the operation's location repeats the statuses nginx itself answers there
(401, 403, 413, 429, 500, 502, 503, 504): an upstream answering one of those is replaced too.
The replaced answer keeps the upstream's ``Retry-After`` (429, 503); nginx keeps an upstream 401's
``WWW-Authenticate`` itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.policies import PolicyKind, register
from apigen.render.quoting import MAX_TOKEN_BYTES, Arg, json_string, quote

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.effective import EffectiveOperation

PLACEHOLDER = re.compile(r"\{(status|message|request_id)\}")
NGINX_OWN_IN_OPERATION = (401, 403, 413, 429, 500, 502, 503, 504)
DEFAULT_TEMPLATE = '{"status":{status},"error":{message},"request_id":{request_id}}'


def gateway_error_template(config: GatewayConfig) -> str | None:
    """The JSON error body template the gateway's errors policy sets, or None (the default)."""
    from apigen.policies import registry

    return next((t for k in registry.values() if (t := k.error_body_template(config))), None)


def _sample(template: str) -> str:
    values = {"status": "429", "message": '"Too Many Requests"', "request_id": '"abc"'}
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def render_body(template: str, status: int, reason: str) -> Arg:
    """The ``return`` body: literal text quoted (a ``$`` stays a dollar), placeholders filled."""
    values = {
        "status": str(status),
        "message": json_string(reason),
        "request_id": '"$apigen_request_id"',
    }
    out, pos = [], 0
    for m in PLACEHOLDER.finditer(template):
        out.append(str(quote(template[pos : m.start()], variables=True))[1:-1])
        value = values[m.group(1)]
        # request_id's dollar is apigen's own variable: kept; the others are literals.
        out.append(str(quote(value, variables=m.group(1) != "request_id"))[1:-1])
        pos = m.end()
    out.append(str(quote(template[pos:], variables=True))[1:-1])
    return Arg('"' + "".join(out) + '\\n"')


# JavaScript for the njs modules that answer gateway errors themselves (aggregate, validation):
# the errors policy's template filled in as nginx's error locations fill it, with `extra` members
# added when the template makes a JSON object (validation's 400 ignored the template; a hunt).
_NJS_ERROR_BODY = r"""
function errorBody(status, reason, rid, extra) {
    var body = {status: status, error: reason, request_id: rid};
    if (ERROR_TEMPLATE !== null) {
        var text = ERROR_TEMPLATE.replace(/\{(status|message|request_id)\}/g, function (all, k) {
            return k === 'status' ? String(status) : JSON.stringify(k === 'message' ? reason : rid);
        });
        try {
            body = JSON.parse(text);
        } catch (e) {
            return text + '\n';
        }
    }
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
        for (var k in extra) {
            body[k] = extra[k];
        }
    }
    return JSON.stringify(body) + '\n';
}
"""


def njs_error_body(config: GatewayConfig) -> str:
    """``errorBody(status, reason, request_id, extra)`` and the template it fills, for njs."""
    return f"var ERROR_TEMPLATE = {json.dumps(gateway_error_template(config), ensure_ascii=True)};" + _NJS_ERROR_BODY


def error_location(status: int) -> str:
    """The named location answering ``status`` with the gateway's JSON (api_json_errors.conf)."""
    return f"@apigen_error_{status}"


@dataclass(frozen=True)
class InterceptUse:
    statuses: tuple[int, ...]  # every error_page of the location

    @property
    def pages(self) -> tuple[tuple[int, str], ...]:
        return tuple((s, error_location(s)) for s in self.statuses)


class Errors(PolicyKind):
    name = "errors"
    order = 95

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        template = policy.config.get("template")
        if template is None:
            return
        try:
            json.loads(_sample(template))
        except ValueError as exc:
            diags.error(f"error body template is not JSON once filled in: {exc}", source.pos(*policy.path, "template"))
        else:
            from apigen.plan.planner import ERROR_STATUSES  # the planner imports the policy kinds

            # nginx reads a `return` body as one token of at most 4 KiB: a template within the
            # schema's length in characters went past it once escaped (found by a hunt).
            longest = max(len(str(render_body(template, s, r)).encode()) for s, r in ERROR_STATUSES.items())
            if longest > MAX_TOKEN_BYTES:
                diags.error(
                    f"error body template is {longest} bytes once escaped for nginx; at most {MAX_TOKEN_BYTES} fit",
                    source.pos(*policy.path, "template"),
                )
        levels = [a.attachment for a in config.apis]
        levels += [t for a in config.apis for t in a.tags.values()]
        levels += [o for a in config.apis for o in a.operations_attachments.values()]
        for att in levels:
            if policy.name in att.use:
                diags.error(
                    f"policy {policy.name!r} has an error body template, which applies to the whole gateway",
                    source.pos(*att.path, "use", att.use.index(policy.name)),
                    hint="attach it under gateway.use",
                )

    def error_body_template(self, config: GatewayConfig) -> str | None:
        for name in config.gateway.attachment.use:
            policy = config.policies.get(name)
            if policy is not None and policy.kind == self.name and policy.config.get("template"):
                return str(policy.config["template"])
        return None

    def error_headers(self, http_plan: Any) -> list[tuple[int, str, str]]:
        # An intercepted upstream 429 or 503 keeps its Retry-After (it was dropped); the gateway's
        # own answers have no upstream header, and a limit's value applies. nginx itself keeps an
        # intercepted 401's WWW-Authenticate (seen: adding it sent two).
        if not any(http_plan):
            return []
        return [
            (429, "Retry-After", "upstream_http_retry_after"),
            (503, "Retry-After", "upstream_http_retry_after"),
        ]

    def inactive_reason(self, policy: PolicyDef, eff: EffectiveOperation) -> str | None:
        return _GRPC_REASON if policy.config.get("intercept") and eff.grpc else None

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        intercept = policy.config.get("intercept") or ()
        # A gRPC operation answers the gateway's errors as gRPC statuses: JSON error pages put
        # before those made clients get HTTP 502 with JSON (found by a hunt).
        if not intercept or eff.grpc:
            return None
        return InterceptUse(tuple(sorted(set(intercept) | set(NGINX_OWN_IN_OPERATION))))


_GRPC_REASON = "gRPC operations answer errors as gRPC statuses (grpc-status), never as JSON"


register(Errors())
