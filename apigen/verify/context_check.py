"""Check that every directive in a parsed bundle exists on the chosen target.

NGINX Plus cannot run here, so for Plus output this table check (with crossplane's context and
argument checks) is the whole verification; for OSS it also catches typos before ``nginx -t``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apigen.targets import Target, unavailable_reason

from .parse import ConfigError, iter_directives

# Blocks whose entries are data, not directives (map keys, geo networks, match conditions, ...).
OPAQUE_BLOCKS = frozenset({"map", "geo", "split_clients", "types", "charset_map", "match", "otel_exporter"})


def check_directives_for_target(payload: Mapping[str, Any], target: Target) -> list[ConfigError]:
    """One error per directive use that ``target`` does not support (unknown names included)."""
    errors: list[ConfigError] = []
    seen: set[tuple[str, int, str]] = set()
    reasons: dict[str, str | None] = {}  # per directive name: a big bundle repeats a few dozen names
    for ref in iter_directives(payload):
        if any(label.split(" ", 1)[0] in OPAQUE_BLOCKS for label in ref.context):
            continue
        if ref.directive not in reasons:
            reasons[ref.directive] = unavailable_reason(target, ref.directive)
        reason = reasons[ref.directive]
        if reason is None:
            continue
        key = (ref.file, ref.line, reason)
        if key in seen:  # a file included twice is walked twice
            continue
        seen.add(key)
        errors.append(ConfigError(ref.file, ref.line, reason))
    return errors
