"""Active health checks (NGINX Plus) as NGINX Plus would load them.

NGINX Plus cannot run here, so nothing else checks what its ``nginx -t`` would refuse: the
directive tables see ``health_check`` in a location and ``match`` at http level, but not their
arguments (``match`` blocks are opaque there), nor the references between them. From the
nginx.org page of ngx_http_upstream_hc_module:

- ``health_check [interval=time] [jitter=time] [fails=number] [passes=number] [uri=uri]
  [mandatory [persistent]] [match=name] [port=number] [type=grpc [grpc_service=name]
  [grpc_status=code]] [keepalive_time=time]``, in a location that passes requests to a group
  ("referenced in the surrounding location") which "must reside in the shared memory" (``zone``);
- ``match name { ... }`` holds ``status``, ``header`` and ``body`` tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .parse import ConfigError, iter_directives

_TIME = re.compile(r"^\d+(ms|s|m|h|d)?$")
_NUMBER = re.compile(r"^\d+$")
_VALUED = {
    "interval": _TIME,
    "jitter": _TIME,
    "keepalive_time": _TIME,
    "fails": _NUMBER,
    "passes": _NUMBER,
    "port": _NUMBER,
    "grpc_status": _NUMBER,
    "uri": re.compile(r"^/"),
    "match": re.compile(r"^\S+$"),
    "grpc_service": re.compile(r"^\S*$"),
    "type": re.compile(r"^grpc$"),
}
_FLAGS = frozenset({"mandatory", "persistent"})
_MATCH_TESTS = frozenset({"status", "header", "body"})


def _params(args: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    problems: list[str] = []
    for arg in args:
        name, eq, value = arg.partition("=")
        if not eq:
            if arg in _FLAGS:
                values[arg] = ""
            else:
                problems.append(f'invalid parameter "{arg}"')
        elif name not in _VALUED:
            problems.append(f'invalid parameter "{arg}"')
        elif not _VALUED[name].match(value):
            problems.append(f'invalid value in "{arg}"')
        else:
            values[name] = value
    if "persistent" in values and "mandatory" not in values:
        problems.append('"persistent" needs "mandatory"')
    if ("grpc_service" in values or "grpc_status" in values) and values.get("type") != "grpc":
        problems.append('"grpc_service" and "grpc_status" need "type=grpc"')
    return values, problems


def check_health_checks(payload: Mapping[str, Any]) -> list[ConfigError]:
    """One error per health_check or match entry NGINX Plus would refuse."""
    matches: set[str] = set()
    zones: set[str] = set()
    checks = []  # (ref, location's pass directive and argument)
    passes: dict[tuple[str, ...], tuple[str, str]] = {}
    errors: list[ConfigError] = []
    for ref in iter_directives(payload):
        parent = ref.context[-1].split(" ", 1) if ref.context else [""]
        if ref.directive == "match" and ref.args and ref.context and ref.context[-1] == "http":
            matches.add(ref.args[0])
        elif parent[0] == "match" and ref.directive not in _MATCH_TESTS:
            errors.append(ConfigError(ref.file, ref.line, f'unknown test "{ref.directive}" in match (status, header or body)'))
        elif ref.directive == "zone" and parent[0] == "upstream" and len(parent) > 1:
            zones.add(parent[1])
        elif ref.directive in ("proxy_pass", "grpc_pass") and ref.args:
            passes[ref.context] = (ref.directive, ref.args[0])
        elif ref.directive == "health_check":
            checks.append(ref)
    for ref in checks:
        values, problems = _params(ref.args)
        if "match" in values and values["match"] not in matches:
            problems.append(f'no match block "{values["match"]}" at http level')
        directive, target = passes.get(ref.context, ("", ""))
        group = re.sub(r"^(https?|grpcs?)://", "", target)
        if not directive:
            problems.append("its location passes requests to no upstream group (proxy_pass or grpc_pass)")
        elif "$" in target or group == target:
            problems.append(f'{directive} {target} names no upstream group by name')
        elif group not in zones:
            problems.append(f'upstream "{group}" has no zone: health checks need the group in shared memory')
        elif (values.get("type") == "grpc") != (directive == "grpc_pass"):
            problems.append('"type=grpc" goes with grpc_pass, and only with it')
        for problem in problems:
            errors.append(ConfigError(ref.file, ref.line, f"health_check: {problem}"))
    return errors
