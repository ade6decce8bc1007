"""Request keys that limits and splits are counted or assigned by.

A key source is a short string from the policy file; each becomes one nginx variable. The
variables that name an authenticated client are defined by the security kinds: ``$apigen_client``
(the API-key client name) and, for JWT claims, ``$jwt_claim_<name>`` on NGINX Plus (auth_jwt; on
OSS the njs check runs after the phases that use keys, so claims cannot key anything there).
"""

from __future__ import annotations

import re

from apigen.targets import Target

KEY_SOURCE_PATTERN = r"^(client_ip|request_id|api_key_client|(header|cookie|query|jwt_claim):[A-Za-z0-9_-]{1,64})$"
API_CLIENT_VAR = "apigen_client"
_VAR_SAFE = re.compile(r"[^a-z0-9_]")


def variable_name(source: str, target: Target) -> str:
    """The nginx variable (without ``$``) holding the key source's value."""
    if source == "client_ip":
        return "binary_remote_addr"
    if source == "request_id":
        return "request_id"
    if source == "api_key_client":
        return API_CLIENT_VAR
    kind, _, name = source.partition(":")
    norm = _VAR_SAFE.sub("_", name.lower())
    if kind == "header":
        return "http_" + norm
    if kind == "cookie":
        return "cookie_" + name  # cookie names are case-sensitive; validated to be variable-safe
    if kind == "query":
        return "arg_" + name
    if kind == "jwt_claim":
        return ("jwt_claim_" if target.is_plus else "apigen_jwt_claim_") + norm
    raise ValueError(f"unknown key source {source!r}")


def key_sources(value: str | list[str] | None, default: str = "client_ip") -> tuple[str, ...]:
    if value is None:
        return (default,)
    return (value,) if isinstance(value, str) else tuple(value)


def key_expression(sources: tuple[str, ...], target: Target) -> str:
    """The nginx expression of a (possibly combined) key: ``$binary_remote_addr`` or ``$request_id`` alone,
    else
    ``k:${a}:${b}``. The literal prefix keeps a key whose header or cookie is missing from being
    empty (an empty key is never counted: clients could escape a limit by omitting the header);
    they share one bucket instead."""
    names = [variable_name(s, target) for s in sources]
    if names in (["binary_remote_addr"], ["request_id"]):  # never empty
        return "$" + names[0]
    return "k:" + ":".join("${" + n + "}" for n in names)


def invalid_source_reason(source: str) -> str | None:
    """Cookie and query names become part of a variable name: only letters, digits and `_`;
    header names only letters, digits and `-`."""
    kind, _, name = source.partition(":")
    if kind in ("cookie", "query") and not re.fullmatch(r"[A-Za-z0-9_]+", name):
        return f"{kind} name {name!r} must be letters, digits and '_' to be read as an nginx variable"
    if kind == "header":
        return header_name_reason(name)
    return None


def header_name_reason(name: str) -> str | None:
    """Why nginx cannot read the request header ``name`` by name, or None. It reads them as
    ``$http_<name>`` with `-` written `_`, so `X_Key` reads the client's `X-Key` (and nginx drops
    headers whose names hold `_`)."""
    if not re.fullmatch(r"[A-Za-z0-9-]+", name):
        return f"header name {name!r}: nginx reads request headers by name only for letters, digits and '-'"
    return None


def target_source_reason(source: str, target: Target) -> str | None:
    """Why ``source`` cannot key anything on ``target``, or None."""
    if source.startswith("jwt_claim:") and not target.is_plus:
        return (
            f"{source!r} needs NGINX Plus: auth_jwt sets $jwt_claim_* before limits, splits and caches "
            "run; on NGINX OSS the token is verified by njs in the access phase, after the limits "
            "and splits (key on api_key_client, a header or a cookie instead)"
        )
    return None


def required_variable(source: str, target: Target) -> str | None:
    """The variable a policy kind must define for ``source`` to work (None: nginx has it)."""
    if source == "api_key_client":
        return API_CLIENT_VAR
    if source.startswith("jwt_claim:") and not target.is_plus:
        return variable_name(source, target)
    return None


def jwt_claim_sources(kind: str, config: dict) -> list[tuple[tuple[str | int, ...], str]]:
    """The ``jwt_claim:`` key sources of a limit, split or cache policy, with their data paths
    (``("key",)``, ``("key", 1)``, ``("vary", 0)``) under the policy."""
    return [(at, v) for at, v in _key_sources_at(kind, config) if v.startswith("jwt_claim:")]


def api_client_sources(kind: str, config: dict) -> list[tuple[tuple[str | int, ...], str]]:
    """The ``api_key_client`` key sources of a limit, split or cache policy, with their paths."""
    return [(at, v) for at, v in _key_sources_at(kind, config) if v == "api_key_client"]


def _key_sources_at(kind: str, config: dict) -> list[tuple[tuple[str | int, ...], str]]:
    field = "vary" if kind == "cache" else "key"
    value = config.get(field)
    if isinstance(value, str):
        items: list[tuple[tuple[str | int, ...], object]] = [((field,), value)]
    elif isinstance(value, list):
        items = [((field, i), v) for i, v in enumerate(value)]
    else:
        items = []
    return [(at, v) for at, v in items if isinstance(v, str)]
