"""JWT verification keys, converted at build time into what njs 0.7.9 can import.

njs cannot import JWKs (``jwk`` arrived in 0.7.10), so RSA and EC keys become SubjectPublicKeyInfo
DER (``spki``) and HMAC secrets raw bytes. Every key carries exactly one algorithm: the token's
``alg`` header never chooses how a key is used. The DER is written by hand (a few bytes of ASN.1)
so the compiler needs no crypto library at run time.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGS = {"ES256": "P-256", "ES384": "P-384"}
HMAC_ALGS = {"HS256": 32, "HS384": 48, "HS512": 64}  # minimum secret length (RFC 7518 3.2)
ALGORITHMS = (*sorted(HMAC_ALGS), *RSA_ALGS, *sorted(EC_ALGS))

_OID_RSA = bytes.fromhex("2a864886f70d010101")
_OID_EC = bytes.fromhex("2a8648ce3d0201")
_OID_CURVE = {"P-256": bytes.fromhex("2a8648ce3d030107"), "P-384": bytes.fromhex("2b81040022")}
_COORD_BYTES = {"P-256": 32, "P-384": 48}


class KeyError_(ValueError):
    """A key file that cannot be used (message says why)."""


@dataclass(frozen=True)
class VerifyKey:
    alg: str
    kid: str | None
    data: str  # base64 of the SPKI DER or of the raw HMAC secret

    def as_json(self) -> dict:
        return {"alg": self.alg, "kid": self.kid, "data": self.data}


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _len(len(body)) + body


def _int(raw: bytes) -> bytes:
    raw = raw.lstrip(b"\0") or b"\0"
    if raw[0] & 0x80:
        raw = b"\0" + raw
    return _tlv(0x02, raw)


def _spki(algorithm: bytes, key: bytes) -> bytes:
    return _tlv(0x30, _tlv(0x30, algorithm) + _tlv(0x03, b"\0" + key))


def rsa_spki(n: bytes, e: bytes) -> bytes:
    return _spki(_tlv(0x06, _OID_RSA) + b"\x05\x00", _tlv(0x30, _int(n) + _int(e)))


def ec_spki(curve: str, x: bytes, y: bytes) -> bytes:
    return _spki(_tlv(0x06, _OID_EC) + _tlv(0x06, _OID_CURVE[curve]), b"\x04" + x + y)


def _b64url(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]+=*", value):
        raise KeyError_(f"{what} is not base64url")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _der_length_ok(der: bytes) -> bool:
    if len(der) < 2 or der[0] != 0x30:
        return False
    first = der[1]
    if first < 0x80:
        return 2 + first == len(der)
    count = first & 0x7F
    return 2 + count + int.from_bytes(der[2 : 2 + count], "big") == len(der)


def key_family(der: bytes) -> str:
    """'RSA', 'P-256' or 'P-384' for an SPKI DER; KeyError_ otherwise."""
    if not _der_length_ok(der):
        raise KeyError_("not a DER SubjectPublicKeyInfo")
    head = der[:32]
    if _OID_RSA in head:
        return "RSA"
    if _OID_EC in head:
        for curve, oid in _OID_CURVE.items():
            if oid in der[:40]:
                return curve
        raise KeyError_("EC key on a curve other than P-256/P-384")
    raise KeyError_("public key type is neither RSA nor EC")


def _check_family(alg: str, family: str) -> None:
    if alg in RSA_ALGS and family != "RSA":
        raise KeyError_(f"{alg} needs an RSA key, the key is {family}")
    if alg in EC_ALGS and family != EC_ALGS[alg]:
        raise KeyError_(f"{alg} needs a {EC_ALGS[alg]} key, the key is {family}")
    if alg in HMAC_ALGS:
        raise KeyError_(f"{alg} needs a shared secret (secret:), not a public key")


_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----\s*([A-Za-z0-9+/=\s]+?)-----END \1-----")


def pem_key(text: str, alg: str, kid: str | None) -> VerifyKey:
    match = _PEM.search(text)
    if match is None:
        raise KeyError_("no PEM block found (expected -----BEGIN PUBLIC KEY-----)")
    label = match.group(1)
    try:
        der = base64.b64decode("".join(match.group(2).split()), validate=True)
    except binascii.Error as exc:
        raise KeyError_("PEM body is not base64") from exc
    if label == "RSA PUBLIC KEY":  # PKCS#1: wrap it into an SPKI
        if not _der_length_ok(der):
            raise KeyError_("not a DER RSA public key")
        der = _spki(_tlv(0x06, _OID_RSA) + b"\x05\x00", der)
    elif label != "PUBLIC KEY":
        raise KeyError_(f"PEM holds a {label.lower()}; give the public key (-----BEGIN PUBLIC KEY-----)")
    _check_family(alg, key_family(der))
    return VerifyKey(alg, kid, base64.b64encode(der).decode())


def secret_key(raw: bytes, alg: str, kid: str | None) -> VerifyKey:
    if alg not in HMAC_ALGS:
        raise KeyError_(f"a shared secret can only be used with HS256/HS384/HS512, not {alg}")
    if len(raw) < HMAC_ALGS[alg]:
        raise KeyError_(f"{alg} secret must be at least {HMAC_ALGS[alg]} bytes (it has {len(raw)})")
    return VerifyKey(alg, kid, base64.b64encode(raw).decode())


def jwks_keys(text: str, default_alg: str | None) -> list[VerifyKey]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyError_(f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or not keys:
        raise KeyError_('a JWKS needs a non-empty "keys" array')
    out = []
    for index, jwk in enumerate(keys):
        where = f"keys[{index}]"
        if not isinstance(jwk, dict):
            raise KeyError_(f"{where} is not an object")
        if jwk.get("use", "sig") != "sig":
            continue
        alg = jwk.get("alg", default_alg)
        if alg not in ALGORITHMS:
            raise KeyError_(f"{where}: algorithm {alg!r} is not supported (pin one with `alg:`; supported: {', '.join(ALGORITHMS)})")
        kid = jwk.get("kid")
        kid = str(kid) if kid is not None else None
        kty = jwk.get("kty")
        if kty == "RSA":
            if alg not in RSA_ALGS:
                raise KeyError_(f"{where}: RSA key cannot be used with {alg}")
            der = rsa_spki(_b64url(jwk.get("n"), f"{where}.n"), _b64url(jwk.get("e"), f"{where}.e"))
            out.append(VerifyKey(alg, kid, base64.b64encode(der).decode()))
        elif kty == "EC":
            crv = jwk.get("crv")
            if alg not in EC_ALGS or EC_ALGS[alg] != crv:
                raise KeyError_(f"{where}: EC key on {crv!r} cannot be used with {alg}")
            x, y = _b64url(jwk.get("x"), f"{where}.x"), _b64url(jwk.get("y"), f"{where}.y")
            if len(x) != _COORD_BYTES[crv] or len(y) != _COORD_BYTES[crv]:
                raise KeyError_(f"{where}: x/y have the wrong length for {crv}")
            out.append(VerifyKey(alg, kid, base64.b64encode(ec_spki(crv, x, y)).decode()))
        elif kty == "oct":
            out.append(secret_key(_b64url(jwk.get("k"), f"{where}.k"), alg, kid))
        else:
            raise KeyError_(f"{where}: key type {kty!r} is not supported (RSA, EC or oct)")
    if not out:
        raise KeyError_("the JWKS has no signing keys")
    return out
