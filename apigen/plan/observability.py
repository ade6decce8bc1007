"""Access log, metrics and tracing.

The JSON access log is built from a registry of fields. A field's variable is either one nginx or
the core always defines, or one a policy kind defines while in use (``PolicyKind.provides``):

- ``$apigen_client``: the authenticated identity (auth kinds),
- ``$apigen_variant``: the chosen split variant (traffic split kinds),
- ``$limit_req_status``: nginx's own (PASSED, DELAYED, REJECTED, ...; empty without limit_req).

A field whose variable nobody provides is logged as JSON ``null``, so every line has the same
keys. Request headers that carry credentials are never logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apigen.bundle import relative_outside_kept_dirs
from apigen.diagnostics import Diagnostics
from apigen.load.policy_loader import PolicySource
from apigen.model.types import GatewayConfig, Listen
from apigen.targets import at_least, unavailable_reason


@dataclass(frozen=True)
class LogField:
    name: str
    variable: str
    provided_by_kind: bool = False  # logged only when a kind in use provides the variable
    numeric: bool = False  # always a number: printed without quotes
    since: tuple[int, ...] = ()  # nginx version that defines the variable
    client_bytes: bool = False  # arbitrary client bytes: logged only when valid UTF-8


LOG_FIELDS: tuple[LogField, ...] = (
    LogField("time", "time_iso8601"),
    LogField("request_id", "apigen_request_id"),
    LogField("client", "remote_addr"),
    LogField("method", "request_method"),
    LogField("uri", "apigen_request_path", client_bytes=True),  # $request_uri without the query (API keys)
    LogField("status", "status", numeric=True),
    LogField("bytes", "body_bytes_sent", numeric=True),
    LogField("request_time", "request_time", numeric=True),
    LogField("upstream_addr", "upstream_addr"),
    LogField("upstream_status", "upstream_status"),
    LogField("upstream_connect_time", "upstream_connect_time"),
    LogField("upstream_header_time", "upstream_header_time"),
    LogField("upstream_response_time", "upstream_response_time"),
    LogField("api", "apigen_api"),
    LogField("operation", "apigen_operation"),
    LogField("auth_client", "apigen_client", provided_by_kind=True),
    LogField("rate_limit", "limit_req_status", since=(1, 17, 6)),
    LogField("variant", "apigen_variant", provided_by_kind=True),
    LogField("user_agent", "http_user_agent", client_bytes=True),
)

# Request headers that carry credentials: never logged, whatever the policy says.
_SECRET_HEADER = re.compile(r"(authorization|cookie|api[-_]?key|token|secret|password|auth)", re.IGNORECASE)
_LOGGABLE_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")


# escape=json escapes `"`, `\\` and control characters but copies bytes >= 0x80 as they are:
# a value that is not valid UTF-8 would make the line invalid JSON, so such values are replaced.
UTF8_ONLY = (
    r"^(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    r"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    r"|\xf4[\x80-\x8f][\x80-\xbf]{2})*$"
)
NOT_UTF8 = "(not UTF-8)"


@dataclass(frozen=True)
class SanitizedVariable:
    source: str  # variable name holding client bytes
    target: str  # variable logged instead: the value if valid UTF-8, else NOT_UTF8


@dataclass(frozen=True)
class AccessLogPlan:
    path: str
    format: str  # the log_format string (apigen-built; variables evaluated on purpose)
    sanitized: tuple[SanitizedVariable, ...]
    utf8_regex: str = "~" + UTF8_ONLY
    not_utf8: str = NOT_UTF8

    @property
    def off(self) -> bool:
        """`path: off`: no access log (nginx's `access_log off`, which takes no format)."""
        return self.path == "off"


@dataclass(frozen=True)
class MetricsPlan:
    listen: Listen
    allow: tuple[str, ...]
    plus: bool


@dataclass(frozen=True)
class TracingPlan:
    exporter: str
    service_name: str
    trace: str  # argument of otel_trace: on | off | $otel_parent_sampled


def _safe(variable: str) -> str:
    return "apigen_log_" + variable.removeprefix("apigen_")


def log_format(config: GatewayConfig, provided: frozenset[str], tracing: bool) -> str:
    items = []
    for f in LOG_FIELDS:
        available = (f.variable in provided) if f.provided_by_kind else at_least(config.target, f.since)
        if not available:
            items.append(f'"{f.name}":null')
        elif f.numeric:
            items.append(f'"{f.name}":${f.variable}')
        else:
            items.append(f'"{f.name}":"${_safe(f.variable) if f.client_bytes else f.variable}"')
    if tracing:
        items.append('"trace_id":"$otel_trace_id"')
    assert config.gateway.access_log is not None
    for name, header in config.gateway.access_log.fields:
        items.append(f'"{name}":"${_safe(_header_var(header))}"')
    return "{" + ",".join(items) + "}"


def plan_access_log(
    config: GatewayConfig, provided: frozenset[str], tracing: bool, source: PolicySource | None, diags: Diagnostics
) -> AccessLogPlan | None:
    settings = config.gateway.access_log
    if settings is None:
        return None
    if settings.path != "off" and relative_outside_kept_dirs(settings.path):
        # Relative to nginx's prefix, the bundle when run standalone (found by a hunt: the log
        # written so far was deleted with the previous bundle at each rebuild).
        diags.error(
            f"access_log path {settings.path!r} is in the bundle directory outside logs/: every build replaces "
            "that directory, the log written so far goes with the previous bundle, and nginx writes to a "
            "deleted file until the reload",
            source.pos("gateway", "access_log", "path") if source else None,
            hint="put it under logs/ (kept across rebuilds; the default is logs/access.json.log), or give an "
            "absolute path outside the bundle",
        )
    builtin = {f.name for f in LOG_FIELDS} | {"trace_id"}
    credentials = _credential_headers(config)
    for name, header in settings.fields:
        where = source.pos("gateway", "access_log", "fields", name) if source else None
        if name in builtin:
            diags.error(f"access_log field {name!r} is already logged by default", where)
        elif _SECRET_HEADER.search(header) or _header_var(header) in credentials:
            diags.error(f"header {header!r} may carry credentials and is never logged", where)
        elif not _LOGGABLE_HEADER.match(header):
            diags.error(f"header {header!r}: only letters, digits and '-' can be logged", where)
    sources = [f.variable for f in LOG_FIELDS if f.client_bytes]
    sources += [_header_var(h) for _, h in settings.fields if _LOGGABLE_HEADER.match(h)]
    sanitized = tuple(SanitizedVariable(s, _safe(s)) for s in dict.fromkeys(sources))
    return AccessLogPlan(settings.path, log_format(config, provided, tracing), sanitized)


def _credential_headers(config: GatewayConfig) -> set[str]:
    """The variables (``http_x_partner``) of the request headers the policies read credentials
    from (an API key in `X-Partner`, a token in `X-Jwt`): names the secret pattern cannot guess.
    Compared as nginx reads them: `X_Partner` and `X-Partner` are one header to it."""
    out = set()
    for policy in config.policies.values():
        cfg = policy.config
        if policy.kind == "api_key" and cfg.get("in", "header") == "header" and cfg.get("name"):
            out.add(_header_var(str(cfg["name"])))
        token = (cfg.get("token") or {}) if policy.kind == "jwt" else {}
        if token.get("from") == "header" and token.get("name"):
            out.add(_header_var(str(token["name"])))
    return out


def _header_var(header: str) -> str:
    return "http_" + header.lower().replace("-", "_")


def plan_metrics(config: GatewayConfig) -> MetricsPlan | None:
    m = config.gateway.metrics
    if m is None:
        return None
    return MetricsPlan(m.listen, m.allow, config.target.is_plus)


def plan_tracing(config: GatewayConfig, source: PolicySource | None, diags: Diagnostics) -> TracingPlan | None:
    t = config.gateway.tracing
    if t is None:
        return None
    reason = unavailable_reason(config.target, "otel_trace")
    if reason:
        diags.error(f"tracing: {reason}", source.pos("gateway", "tracing") if source else None)
        return None
    trace = {"on": "on", "off": "off", "parent": "$otel_parent_sampled"}[t.sample]
    return TracingPlan(t.exporter, t.service_name, trace)
