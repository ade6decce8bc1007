"""Cached JWT verifications on NGINX OSS (``cache:`` of a ``jwt`` policy).

njs 0.7.9 runs every request in a fresh VM and has no shared dictionary, so nothing it learns
survives a request; an RS256 signature costs ~150 µs of worker CPU in OpenSSL 3 on every
request. The cache lives in nginx instead: the auth location proxies to a gateway-internal
server (``listen`` of the policy) that runs the njs check, through a ``proxy_cache`` keyed on
the requirement, the key material and the token. The njs handler grants a success
``X-Accel-Expires: min(ttl, exp - now)``; failures carry ``X-Accel-Expires: 0`` and nothing else
makes a response cacheable, so a rejected token is verified again every time and a cached
success never outlives the token. A revoked token stays accepted until its entry expires (at
most ``ttl`` seconds); a change of the policy (keys, issuer, ...) changes the cache key, so
old entries are never used.

Only requirements made of cache-enabled JWT policies are cached: API keys, Basic and mTLS are
checked from variables of the original request that the internal server does not see, and
tokens in a query argument are not part of the proxied request.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apigen.policies.auth_files import var_slug

if TYPE_CHECKING:
    from apigen.model.types import GatewayConfig

CACHE_PATH = "temp/apigen_auth_cache"
CACHE_ZONE = "apigen_auth"
DEFAULT_TTL = 30


@dataclass(frozen=True)
class CachedAuth:
    uri: str  # the auth_request location
    key: str  # proxy_cache_key (an nginx expression written here)
    upstream: str  # proxy_pass target
    buffer_size: str  # proxy_buffer_size: the cache key and the verifier's headers (see buffer_size)


@dataclass(frozen=True)
class AuthCacheHttp:
    path: str
    zone: str
    inactive: str
    listens: tuple[str, ...]  # one internal verifier server per address
    locations: tuple[CachedAuth, ...]


def _settings(policy: Any) -> tuple[str, int] | None:
    """(listen, ttl) of a JWT policy whose verifications may be cached, else None."""
    cache = policy.config.get("cache") if policy.kind == "jwt" else None
    if not cache or not cache.get("listen"):
        return None
    ttl = int(cache.get("ttl", DEFAULT_TTL))
    token = policy.config.get("token") or {"from": "bearer"}
    if ttl <= 0 or token.get("from") == "query":
        return None
    return str(cache["listen"]), ttl


def token_variable(policy: Any) -> str:
    """The variable holding the token as the njs check reads it: the cache key must change with
    it, or one verified token would let any other through."""
    token = policy.config.get("token") or {"from": "bearer"}
    name = str(token.get("name", ""))
    if token.get("from") == "header":
        return "$http_" + var_slug(name)
    if token.get("from") == "cookie":
        # njs reads the cookie by name; `$cookie_a-b` cannot be written in the configuration
        # (a variable name stops at the dash), so such names key on the whole Cookie header.
        return f"$cookie_{name}" if _VARIABLE_SUFFIX.match(name) else "$http_cookie"
    return "$http_authorization"


_VARIABLE_SUFFIX = re.compile(r"^[A-Za-z0-9_]+$")


def key_variables(policy: Any, config: GatewayConfig) -> list[str]:
    """What the cache key holds of one policy: its token, and for a cookie whether it was sent
    twice (the verifier refuses that; a single copy's cached success must not answer it)."""
    from apigen.policies.auth_files import cookie_dup_variable

    token = policy.config.get("token") or {"from": "bearer"}
    out = [token_variable(policy)]
    if token.get("from") == "cookie":
        out.append("$" + cookie_dup_variable(config, str(token["name"])))
    return out


def buffer_size(token_variables: int) -> str:
    """proxy_buffer_size of a cached auth location. nginx reads the verifier's response headers
    into one buffer that starts with the cache key, and the key holds the client's token(s): each
    up to a header line (large_client_header_buffers, 8k); the headers hold the claims forwarded
    from them (forward_claims), at most a token's payload each. nginx's 4k made a valid token of
    about 4 KB with a forwarded claim a 500 ("upstream sent too big header"), and kept a longer
    token out of the cache with an error-log line a request (found by a hunt): 16k a token."""
    return f"{16 * max(1, token_variables)}k"


def requirement_ttl(config: GatewayConfig, policies: set[str]) -> int:
    """Seconds a success of a requirement using these policies may be cached (0: never)."""
    settings = [_settings(config.policies[n]) for n in sorted(policies)]
    if not settings or any(s is None for s in settings):
        return 0
    return min(s[1] for s in settings if s is not None)


def upstream_of(listen: str) -> str:
    return f"http://{listen}:" if listen.startswith("unix:") else f"http://{listen}"


def plan_cache(config: GatewayConfig, requirements: dict[str, dict], njs_policies: dict[str, dict], prefix: str) -> AuthCacheHttp | None:
    """The cached auth locations of the requirements with a ``cache_ttl`` (set by the caller)."""
    locations = []
    listens: set[str] = set()
    ttls = []
    for rid, req in sorted(requirements.items()):
        if not req.get("cache_ttl"):
            continue
        names = sorted({s["policy"] for alt in req["any"] for s in alt})
        listen = _settings(config.policies[names[0]])[0]  # type: ignore[index]
        listens.add(listen)
        ttls.append(req["cache_ttl"])
        # The policies (keys, issuer, audience, ...) are part of the key: after a change and a
        # reload, no entry verified under the old settings matches.
        settings = json.dumps([njs_policies[n] for n in names], sort_keys=True)
        generation = hashlib.sha256(settings.encode()).hexdigest()[:16]
        # Joined by a line feed, which no header value holds: with a space, `T Bearer` + `junk`
        # keyed like `T` + `Bearer junk`, and a request the verifier refuses got the other's
        # cached success (found by a hunt).
        variables = "\n".join(dict.fromkeys(v for n in names for v in key_variables(config.policies[n], config)))
        # A repeated token header: the key's $http_<name> and the verifier (apigen_auth.js,
        # firstHeader) both read its first copy, the only one the upstream gets (auth.py).
        tokens = len(dict.fromkeys(token_variable(config.policies[n]) for n in names))
        locations.append(CachedAuth(prefix + rid, f"{rid}:{generation}\n{variables}", upstream_of(listen), buffer_size(tokens)))
    if not locations:
        return None
    return AuthCacheHttp(CACHE_PATH, CACHE_ZONE, f"{max(ttls)}s", tuple(sorted(listens)), tuple(locations))


def sockets_replaced_by_build(config: GatewayConfig, out_dir: Path) -> list[tuple[Any, str]]:
    """(policy, socket path) of the cache verifiers whose ``unix:`` socket lies in the bundle
    directory ``out_dir`` outside the directories a rebuild keeps (``logs/``, ``temp/``).

    nginx creates the socket file when it binds the listener. A rebuild swaps in a new directory
    and the file goes with the previous bundle, while nginx keeps listening on the unlinked
    socket (a reload inherits it, the address being unchanged): every cached JWT check then
    failed to connect, 500, until nginx was restarted (found by a hunt)."""
    from apigen.bundle import outside_kept_dirs

    out = []
    for name in sorted(config.policies):
        policy = config.policies[name]
        settings = _settings(policy)
        if settings is not None and settings[0].startswith("unix:"):
            path = settings[0].removeprefix("unix:")
            if outside_kept_dirs(out_dir, path):
                out.append((policy, path))
    return out
