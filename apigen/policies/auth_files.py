"""Files and data the authentication kinds put in the bundle: the njs policy entries (keys
converted at build time), API-key ``map`` includes, checked htpasswd files."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from apigen.policies import jwt_keys

if TYPE_CHECKING:
    from apigen.model.types import GatewayConfig, PolicyDef
    from apigen.plan.assets import AssetCollector

_CLIENT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_KEY = re.compile(r"[\x21-\x7e]{16,256}")

# "<presented key> <client> <key found ignoring case>" -> the client, only when the presented key
# is byte for byte the key (a backreference: PCRE compares it case-sensitively). Keys and client
# names hold no space, so a presented value with a space never matches.
API_KEY_EXACT_REGEX = r"^(\S+) ([^ ]+) \1$"
API_KEY_DEFAULT_HEADER = "X-API-Key"  # where an api_key policy reads the key unless told


def var_slug(name: str) -> str:
    return name.replace("-", "_").lower()


def identity_header(policy: PolicyDef) -> str | None:
    """The header an api_key or mtls policy forwards its identity in (None: none)."""
    if policy.kind == "api_key":
        return policy.config.get("forward_as", "X-Client-Name") or None
    if policy.kind == "mtls":
        return policy.config.get("forward_dn_as", "X-Client-Cert-Subject") or None
    return None


def forward_headers(config: GatewayConfig) -> dict[str, int]:
    """The header names the njs handler sets for the authorizing alternative, numbered
    (lower-cased name -> n): every header a JWT policy forwards a claim in, then those several
    api_key/mtls policies forward (or one of them and a JWT policy). An api_key or mtls identity
    in a header of its own is a plain nginx variable; a header shared with another policy took
    that variable whatever the alternative that passed (a valid JWT reached the upstream without
    its X-User-Id, a second key policy's client without X-Client-Name; found by a hunt)."""
    names = set()
    for policy in config.policies.values():
        if policy.kind == "jwt":
            names.update(h.lower() for h in (policy.config.get("forward_claims") or {}).values())
    others: dict[str, int] = {}
    for policy in config.policies.values():
        header = identity_header(policy)
        if header:
            others[header.lower()] = others.get(header.lower(), 0) + 1
    shared = sorted(h for h, n in others.items() if n > 1 and h not in names)
    numbers = {name: i for i, name in enumerate(sorted(names))}
    numbers.update({name: len(names) + i for i, name in enumerate(shared)})
    return numbers


def shared_identity_header(policy: PolicyDef, config: GatewayConfig) -> int | None:
    """The forward number of an api_key or mtls policy whose header the njs handler sets."""
    header = identity_header(policy)
    if header is None:
        return None
    return forward_headers(config).get(header.lower())



def source_variable(cfg: Any) -> str:
    where, name = cfg.get("in", "header"), cfg.get("name", API_KEY_DEFAULT_HEADER)
    if where == "header":
        return "http_" + var_slug(name)
    return (QUERY_VAR_PREFIX if where == "query" else "cookie_") + name


# $arg_* is empty in the auth_request subrequest (its URI has no arguments), so query arguments
# are read from $request_uri, which subrequests share: `map $request_uri $apigen_arg_<name>`.
QUERY_VAR_PREFIX = "apigen_arg_"


def query_arguments(config: GatewayConfig) -> list[str]:
    """Names of the query arguments an authentication policy reads (each gets a map)."""
    names = set()
    for policy in config.policies.values():
        cfg = policy.config
        if policy.kind == "api_key" and cfg.get("in") == "query":
            names.add(cfg["name"])
        if policy.kind == "jwt" and (cfg.get("token") or {}).get("from") == "query":
            names.add(cfg["token"]["name"])
    return sorted(names)


# A JWT cookie sent twice: nginx's $cookie_<name> is the first (names compared ignoring case),
# the upstream gets both and may read the other (found by a hunt: a verified token went with a
# forged one). `map $http_cookie $apigen_ckdup_<n>` is "1" then, and the verifier refuses.
COOKIE_DUP_PREFIX = "apigen_ckdup_"


def token_cookies(config: GatewayConfig) -> list[str]:
    """Lower-cased names of the cookies a JWT policy reads its token from, or an API-key policy
    its key (the same hunt found a repeated API-key cookie passed, its second copy unverified),
    sorted."""
    names = set()
    for policy in config.policies.values():
        token = policy.config.get("token") or {} if policy.kind == "jwt" else {}
        if token.get("from") == "cookie":
            names.add(str(token["name"]).lower())
        if policy.kind == "api_key" and policy.config.get("in") == "cookie":
            names.add(str(policy.config["name"]).lower())
    return sorted(names)


def cookie_dup_variable(config: GatewayConfig, name: str) -> str:
    """The variable that is "1" when the cookie ``name`` is sent more than once."""
    return f"{COOKIE_DUP_PREFIX}{token_cookies(config).index(name.lower()) + 1}"


def cookie_dup_regex(name: str) -> str:
    """Two cookies called ``name`` (any case) in $http_cookie, which joins every Cookie header."""
    cookie = re.escape(name)
    return rf"(?i)(?:^|[;,])\s*{cookie}=.*[;,]\s*{cookie}="


def single_cookie_regex(name: str) -> str:
    """$http_cookie holding the cookie ``name`` (any case) at most once (NGINX Plus requires it)."""
    cookie = re.escape(name)
    return rf"(?i)^(?!(?:.*[;,])?\s*{cookie}=.*[;,]\s*{cookie}=)"


def _token_source(cfg: Any, config: GatewayConfig) -> dict:
    token = cfg.get("token") or {"from": "bearer"}
    out = {"from": token.get("from", "bearer")}
    if out["from"] != "bearer":
        out["name"] = token["name"]
    if out["from"] == "cookie":
        out["dup"] = cookie_dup_variable(config, token["name"])
    return out


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def njs_policy(policy: PolicyDef, config: GatewayConfig, assets: AssetCollector) -> dict | None:
    cfg = policy.config
    base = {"name": policy.name, "realm": cfg.get("realm", "api")}
    if policy.kind == "jwt":
        keys: list[jwt_keys.VerifyKey] = []
        for index, item in enumerate(cfg.get("keys") or ()):
            path = (*policy.path, "keys", index)
            source_key = "jwks" if "jwks" in item else "pem" if "pem" in item else "secret"
            text = assets.read(item[source_key], (*path, source_key))
            if text is None:
                continue
            try:
                if source_key == "jwks":
                    keys.extend(jwt_keys.jwks_keys(text, item.get("alg")))
                elif source_key == "pem":
                    keys.append(jwt_keys.pem_key(text, item["alg"], item.get("kid")))
                else:
                    keys.append(jwt_keys.secret_key(text.rstrip("\r\n").encode(), item["alg"], item.get("kid")))
            except jwt_keys.KeyError_ as exc:
                assets.diags.error(f"{item[source_key]}: {exc}", assets.source.pos(*path, source_key))
        numbers = forward_headers(config)
        return {
            **base,
            "type": "jwt",
            "token": _token_source(cfg, config),
            "keys": [k.as_json() for k in keys],
            "leeway": int(cfg.get("leeway", 0)),
            "require_exp": bool(cfg.get("require_exp", True)),
            "issuers": _as_list(cfg.get("issuer")),
            "audiences": _as_list(cfg.get("audience")),
            "forward": [[c, f"X-Apigen-Fwd-{numbers[h.lower()]}"] for c, h in sorted((cfg.get("forward_claims") or {}).items())],
        }
    if policy.kind == "api_key":
        out = {
            **base,
            "type": "api_key",
            "variable": f"apigen_apikey_{var_slug(policy.name)}",
            "source": source_variable(cfg),
            "in": cfg.get("in", "header"),
            "param": cfg.get("name", API_KEY_DEFAULT_HEADER),
        }
        if out["in"] == "cookie":
            out["dup"] = cookie_dup_variable(config, out["param"])
        number = shared_identity_header(policy, config)
        if number is not None:
            out["forward_as"] = f"X-Apigen-Fwd-{number}"
        return out
    if policy.kind == "basic_auth":
        return {**base, "type": "basic"}
    if policy.kind == "mtls":
        out = {**base, "type": "mtls"}
        number = shared_identity_header(policy, config)
        if number is not None:
            out["forward_as"] = f"X-Apigen-Fwd-{number}"
        return out
    return None


# How clients spell a key in a query argument: nginx compares $arg_* as sent, still
# percent-encoded, and client libraries encode differently. The characters each one leaves as
# they are (letters and digits always): RFC 3986's unreserved set (Python's quote, Go, curl),
# JavaScript's encodeURIComponent, Java's URLEncoder. All of them write hex digits in upper case.
QUERY_KEEPS = ("-._~", "-._~!'()*", "-._*")


def query_spellings(key: str) -> list[str]:
    """The key as sent, then each distinct percent-encoded spelling a client library makes."""
    out = [key]
    for keep in QUERY_KEEPS:
        spelt = "".join(c if c.isascii() and (c.isalnum() or c in keep) else f"%{ord(c):02X}" for c in key)
        if spelt not in out:
            out.append(spelt)
    return out


def api_key_map_text(policy: PolicyDef, text: str, assets: AssetCollector) -> str | None:
    """``key "client key";`` lines for a ``map`` include, from a key file of ``client: key``
    lines. nginx looks map keys up ignoring case, so the value carries the key itself and the
    next map (``API_KEY_EXACT_REGEX``) keeps only a byte-exact match; keys that differ only in
    case cannot be told apart by the lookup and are refused. A key read from a query argument
    is also listed in the spellings client libraries percent-encode it to (``query_spellings``),
    each its own exact match."""
    from apigen.render.quoting import map_key, quote

    where = assets.source.pos(*policy.path, "keys_file")
    in_query = policy.config.get("in") == "query"
    lines: list[str] = []
    seen: dict[str, tuple[int, str]] = {}  # spelling, ASCII case folded -> (line, key)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        client, sep, key = line.partition(":")
        client, key = client.strip(), key.strip()
        if not sep or not _CLIENT.fullmatch(client) or not _KEY.fullmatch(key):
            assets.diags.error(
                f"{policy.config['keys_file']} line {number}: expected `client-name: key` "
                "(client: letters, digits, . _ -; key: 16-256 printable characters, no spaces)",
                where,
            )
            return None
        for spelling in query_spellings(key) if in_query else [key]:
            folded = spelling.lower()  # keys are ASCII (_KEY): what nginx's lookup folds
            if folded in seen:
                other_line, other = seen[folded]
                if other == key:
                    what = "duplicate key"
                elif spelling == key and other.lower() == folded:
                    what = f"key differs from the key of line {other_line} only in letter case, which nginx's lookup ignores"
                else:
                    what = f"key reads, percent-encoded in a query argument, as the key of line {other_line}"
                assets.diags.error(f"{policy.config['keys_file']} line {number}: {what}", where)
                return None
            seen[folded] = (number, key)
            lines.append(f"{map_key(spelling)} {quote(client + ' ' + spelling, variables=True)};")
    if not lines:
        assets.diags.error(f"{policy.config['keys_file']} holds no keys", where)
        return None
    return "\n".join(sorted(lines)) + "\n"


def check_htpasswd(policy: PolicyDef, text: str, assets: AssetCollector) -> bool:
    where = assets.source.pos(*policy.path, "htpasswd")
    count = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not hashed or ":" in hashed.split(":")[0][:0]:
            assets.diags.error(f"{policy.config['htpasswd']} line {number}: expected `user:password-hash`", where)
            return False
        if hashed.startswith("{PLAIN}"):
            assets.diags.error(
                f"{policy.config['htpasswd']} line {number}: plain-text password; use a hash (htpasswd -B or -5)", where
            )
            return False
        count += 1
    if not count:
        assets.diags.error(f"{policy.config['htpasswd']} holds no users", where)
    return count > 0
