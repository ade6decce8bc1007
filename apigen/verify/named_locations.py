"""Every named location an ``error_page`` or ``try_files`` sends requests to exists in its server.

nginx resolves ``@name`` targets only when a request takes them, so ``nginx -t`` passes a bundle
whose error pages point nowhere and the request gets an HTML 500 (found by a hunt: a WAF location
sent every error to ``@apigen_<status>``, where the gateway's are ``@apigen_error_<status>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .parse import ConfigError, iter_directives


def _server_of(context: tuple[str, ...]) -> tuple[str, ...] | None:
    for i, label in enumerate(context):
        if label == "server" or label.startswith("server "):
            return context[: i + 1]
    return None


def check_named_locations(payload: Mapping[str, Any]) -> list[ConfigError]:
    defined: dict[tuple[str, ...], set[str]] = {}
    used: list[tuple[tuple[str, ...], str, str, int | None]] = []
    for ref in iter_directives(payload):
        server = _server_of((*ref.context, "server") if ref.directive == "server" else ref.context)
        if server is None:
            continue
        if ref.directive == "location" and ref.args and ref.args[0].startswith("@"):
            defined.setdefault(server, set()).add(ref.args[0])
        elif ref.directive in ("error_page", "try_files") and ref.args and ref.args[-1].startswith("@"):
            used.append((server, ref.args[-1], ref.file, ref.line))
    errors, seen = [], set()
    for server, name, file, line in used:
        if name not in defined.get(server, set()) and (file, line) not in seen:
            seen.add((file, line))
            errors.append(ConfigError(file, line, f"no location {name} in this server: requests sent there would get nginx's own 500"))
    return errors
