"""NGINX Plus: JWT checks with the native ``auth_jwt`` module instead of njs.

Used when an operation's whole requirement is one JWT policy (with scopes and claim rules): the
key file is a JWKS made at build time (each key with its pinned ``alg``), and ``auth_jwt_require``
checks what the module does not itself: the pinned algorithm (``$jwt_header_alg``), issuer,
audience, a present ``exp`` (401), then scopes and claim rules (403). Requirements with several
schemes keep using the njs handler, which NGINX Plus runs too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.plan.paths import exact_regex, pcre_escape
from apigen.policies import jwt_keys
from apigen.policies.auth_files import single_cookie_regex
from apigen.targets import unavailable_reason

if TYPE_CHECKING:
    from apigen.model.types import GatewayConfig, PolicyDef

PLUS_DIRECTIVES = ("auth_jwt", "auth_jwt_key_file", "auth_jwt_leeway", "auth_jwt_require")
_CLAIM_VAR = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class PlusMap:
    source: str  # nginx expression (apigen-made, variables only)
    variable: str
    # (regex, "1"): every key is a case-sensitive regex. Literal keys would be compared ignoring
    # case (nginx lowercases map lookups), and a value starting with "~" would become a regex
    # (an issuer "~" accepted every token, found by a hunt): literals go through exact_regex.
    entries: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PlusJwt:
    realm: str
    token: str | None  # variable name ("http_x_token"...); None = Authorization: Bearer
    key_file: str  # include path
    leeway: int
    require: tuple[str, ...]  # variables that must be non-empty and not "0" (401)
    require_403: tuple[str, ...]  # scopes and claim rules (403)
    forward: tuple[tuple[str, str], ...]  # (header, "jwt_claim_<name>")


def native_possible(config: GatewayConfig, policy: PolicyDef, claims: tuple) -> bool:
    if not config.target.is_plus or any(unavailable_reason(config.target, d) for d in PLUS_DIRECTIVES):
        return False
    names = [c for c, _ in claims] + list((policy.config.get("forward_claims") or {}).keys())
    return all(_CLAIM_VAR.match(n) for n in names)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", text.lower())


def _claim_text(value: object) -> str:
    # How $jwt_claim_* prints a JSON scalar.
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _list_regex(value: str) -> str:
    # $jwt_claim_* joins array claims with commas.
    return "(^|,)" + pcre_escape(value) + "(,|$)"



def plan_plus_jwt(
    policy: PolicyDef, scopes: tuple[str, ...], claims: tuple[tuple[str, tuple[str, ...]], ...], key_path: str
) -> tuple[PlusJwt, list[PlusMap]]:
    cfg = policy.config
    p = _slug(policy.name)
    maps: list[PlusMap] = []
    algs = sorted(_algorithms(policy))
    maps.append(PlusMap("$jwt_header_alg", f"apigen_jwt_alg_{p}", tuple((exact_regex(a), "1") for a in algs)))
    require = [f"apigen_jwt_alg_{p}"]
    issuers = [cfg["issuer"]] if isinstance(cfg.get("issuer"), str) else list(cfg.get("issuer") or ())
    if issuers:
        maps.append(PlusMap("$jwt_claim_iss", f"apigen_jwt_iss_{p}", tuple((exact_regex(i), "1") for i in sorted(issuers))))
        require.append(f"apigen_jwt_iss_{p}")
    audiences = [cfg["audience"]] if isinstance(cfg.get("audience"), str) else list(cfg.get("audience") or ())
    if audiences:
        maps.append(PlusMap("$jwt_claim_aud", f"apigen_jwt_aud_{p}", tuple((_list_regex(a), "1") for a in sorted(audiences))))
        require.append(f"apigen_jwt_aud_{p}")
    if cfg.get("require_exp", True):
        maps.append(PlusMap("$jwt_claim_exp", f"apigen_jwt_exp_{p}", ((".", "1"),)))
        require.append(f"apigen_jwt_exp_{p}")
    require_403 = []
    if scopes:
        look = "".join(f"(?=.*(^|[ ,]){pcre_escape(s)}([ ,]|$))" for s in scopes)
        var = "apigen_jwt_scope_" + hashlib.sha256(" ".join(scopes).encode()).hexdigest()[:10]
        maps.append(PlusMap("$jwt_claim_scope $jwt_claim_scp", var, (("^" + look, "1"),)))
        require_403.append(var)
    for claim, values in claims:
        var = f"apigen_jwt_claim_{_slug(claim)}_" + hashlib.sha256(json.dumps(values).encode()).hexdigest()[:8]
        maps.append(PlusMap(f"$jwt_claim_{claim}", var, tuple((_list_regex(_claim_text(v)), "1") for v in sorted(values, key=repr))))
        require_403.append(var)
    token = cfg.get("token") or {"from": "bearer"}
    where = token.get("from", "bearer")
    token_var = None
    if where != "bearer":
        name = token["name"]
        token_var = {"header": "http_" + name.replace("-", "_").lower(), "query": "arg_" + name, "cookie": "cookie_" + name}[where]
    if where == "cookie":
        # A token cookie sent twice is refused (401), as on OSS (auth_files.py): auth_jwt would
        # verify the first, and the upstream would get both.
        maps.append(PlusMap("$http_cookie", f"apigen_jwt_ck_{p}", ((single_cookie_regex(token["name"]), "1"),)))
        require.append(f"apigen_jwt_ck_{p}")
    plan = PlusJwt(
        realm=str(cfg.get("realm", "api")),
        token=token_var,
        key_file=key_path,
        leeway=int(cfg.get("leeway", 0)),
        require=tuple(require),
        require_403=tuple(require_403),
        forward=tuple((h, f"jwt_claim_{c}") for c, h in sorted((cfg.get("forward_claims") or {}).items())),
    )
    return plan, maps


def _algorithms(policy: PolicyDef) -> set[str]:
    algs = {k["alg"] for k in policy.config.get("keys") or () if "alg" in k}
    return algs or set(jwt_keys.ALGORITHMS)  # JWKS keys carry theirs; the JWKS file pins them too


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _read_tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of body, end of body) of the DER element at ``at``."""
    tag, first = der[at], der[at + 1]
    if first < 0x80:
        return tag, at + 2, at + 2 + first
    count = first & 0x7F
    length = int.from_bytes(der[at + 2 : at + 2 + count], "big")
    start = at + 2 + count
    return tag, start, start + length


def jwk_of(key: jwt_keys.VerifyKey) -> dict[str, Any]:
    """The JWK of a converted key (Plus reads JWKS files)."""
    raw = base64.b64decode(key.data)
    out: dict[str, Any] = {"alg": key.alg, "use": "sig"}
    if key.kid is not None:
        out["kid"] = key.kid
    if key.alg in jwt_keys.HMAC_ALGS:
        return {**out, "kty": "oct", "k": _b64url(raw)}
    _, body, _ = _read_tlv(raw, 0)  # SubjectPublicKeyInfo
    _, _, alg_end = _read_tlv(raw, body)  # AlgorithmIdentifier
    _, bits, bits_end = _read_tlv(raw, alg_end)  # BIT STRING
    point = raw[bits + 1 : bits_end]
    if key.alg in jwt_keys.EC_ALGS:
        size = (len(point) - 1) // 2
        crv = jwt_keys.EC_ALGS[key.alg]
        return {**out, "kty": "EC", "crv": crv, "x": _b64url(point[1 : 1 + size]), "y": _b64url(point[1 + size :])}
    _, seq, _ = _read_tlv(point, 0)
    _, n_start, n_end = _read_tlv(point, seq)
    _, e_start, e_end = _read_tlv(point, n_end)
    n = point[n_start:n_end].lstrip(b"\0")
    e = point[e_start:e_end].lstrip(b"\0")
    return {**out, "kty": "RSA", "n": _b64url(n), "e": _b64url(e)}
