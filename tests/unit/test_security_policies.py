"""Security policies without nginx: key conversion, requirements, validation errors, Plus output."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apigen.bundle import write_atomic
from apigen.diagnostics import CompileError
from apigen.pipeline import compile_policy
from apigen.policies import jwt_keys
from apigen.targets import Target
from apigen.verify import check_directives_for_target, parse_bundle
from tests.support.locations import operation_location

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "secured" / "policy.yaml"


def _spki(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _pem(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize("bits", [2048, 3072])
def test_rsa_jwk_becomes_the_same_spki_as_cryptography(bits: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    [converted] = jwt_keys.jwks_keys(json.dumps({"keys": [jwk]}), "RS256")
    assert base64.b64decode(converted.data) == _spki(key)
    assert (converted.alg, converted.kid) == ("RS256", None)


@pytest.mark.parametrize(("curve", "alg"), [(ec.SECP256R1(), "ES256"), (ec.SECP384R1(), "ES384")])
def test_ec_jwk_becomes_the_same_spki_as_cryptography(curve, alg: str) -> None:
    key = ec.generate_private_key(curve)
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    [converted] = jwt_keys.jwks_keys(json.dumps({"keys": [{**jwk, "alg": alg, "kid": "k1"}]}), None)
    assert base64.b64decode(converted.data) == _spki(key)
    assert converted.kid == "k1"


def test_pem_keys_are_pinned_to_a_matching_algorithm() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert jwt_keys.pem_key(_pem(rsa_key), "PS256", None).alg == "PS256"
    assert base64.b64decode(jwt_keys.pem_key(_pem(ec_key), "ES256", None).data) == _spki(ec_key)
    for pem, alg in ((_pem(rsa_key), "ES256"), (_pem(ec_key), "RS256"), (_pem(ec_key), "ES384"), (_pem(rsa_key), "HS256")):
        with pytest.raises(jwt_keys.KeyError_):
            jwt_keys.pem_key(pem, alg, None)
    private = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(jwt_keys.KeyError_, match="private key"):
        jwt_keys.pem_key(private.decode(), "RS256", None)
    with pytest.raises(jwt_keys.KeyError_, match="no PEM"):
        jwt_keys.pem_key("hello", "RS256", None)


def test_pkcs1_rsa_public_key_is_wrapped() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    assert base64.b64decode(jwt_keys.pem_key(pkcs1, "RS256", None).data) == _spki(key)


def test_hmac_secrets_need_the_hash_length() -> None:
    assert jwt_keys.secret_key(b"x" * 32, "HS256", None).alg == "HS256"
    with pytest.raises(jwt_keys.KeyError_, match="at least 64"):
        jwt_keys.secret_key(b"x" * 32, "HS512", None)
    with pytest.raises(jwt_keys.KeyError_):
        jwt_keys.secret_key(b"x" * 64, "RS256", None)


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ("{", "not JSON"),
        ('{"keys": []}', "non-empty"),
        ('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}', "not supported"),  # no alg
        ('{"keys": [{"kty": "RSA", "alg": "ES256", "n": "AQAB", "e": "AQAB"}]}', "cannot be used"),
        ('{"keys": [{"kty": "OKP", "alg": "RS256"}]}', "not supported"),
        ('{"keys": [{"kty": "RSA", "alg": "none"}]}', "not supported"),
        ('{"keys": [{"kty": "RSA", "alg": "RS256", "n": "+/", "e": "AQAB"}]}', "base64url"),
    ],
)
def test_bad_jwks_are_rejected(jwks: str, message: str) -> None:
    with pytest.raises(jwt_keys.KeyError_, match=message):
        jwt_keys.jwks_keys(jwks, None)


# --- policies through the whole pipeline ------------------------------------------------------

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "security": [{"bearer": ["read"]}],
    "paths": {
        "/a": {"get": {"operationId": "getA", "responses": {"200": {"description": "ok"}}}},
        "/b": {"get": {"operationId": "getB", "security": [], "responses": {"200": {"description": "ok"}}}},
        "/c": {"get": {"operationId": "getC", "security": [{"key": ["x"]}], "responses": {"200": {"description": "ok"}}}},
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
        }
    },
}


def write_case(tmp_path: Path, policies: dict, *, api_use=("oas",), gateway: dict | None = None, target=None) -> Path:
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "secret").write_text("s" * 40)
    (tmp_path / "keys.txt").write_text("client-a: aaaaaaaaaaaaaaaaaaaa\n")
    policy = {
        "gateway": {"listen": 8080, **(gateway or {})},
        "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9"}]}},
        "policies": policies,
        "apis": [{"name": "t", "spec": "spec.json", "upstream": "u", "use": list(api_use)}],
    }
    if target:
        policy["target"] = target
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    return path


BASE = {
    "jwt": {"kind": "jwt", "keys": [{"secret": "secret", "alg": "HS256"}]},
    "keys": {"kind": "api_key", "keys_file": "keys.txt", "name": "X-Key"},
    "oas": {"kind": "openapi_security", "schemes": {"bearer": "jwt", "key": "keys"}},
}


def errors_of(path: Path) -> list[str]:
    with pytest.raises(CompileError) as info:
        compile_policy(path)
    return [d.format() for d in info.value.diagnostics.errors]


def test_missing_and_unparsable_key_files_are_errors_at_the_policy_line(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    policies = {
        **BASE,
        "jwt": {"kind": "jwt", "keys": [{"pem": "nope.pem", "alg": "RS256"}, {"pem": "bad.pem", "alg": "RS256"}]},
        "oas": {"kind": "openapi_security", "schemes": {"bearer": "jwt"}},
    }
    path = write_case(tmp_path, {**policies, "oas": {"kind": "openapi_security", "schemes": {"bearer": "jwt", "key": "keys"}}})
    (tmp_path / "spec.json").write_text(json.dumps(dict(SPEC, paths={k: v for k, v in SPEC["paths"].items() if k != "/c"})))
    errors = errors_of(path)
    assert any("file not found: nope.pem" in e and "policy.json:" in e for e in errors), errors
    assert any("bad.pem" in e and "SubjectPublicKeyInfo" in e for e in errors), errors


def test_unmapped_scheme_and_scopes_on_api_keys_are_errors(tmp_path: Path) -> None:
    errors = errors_of(write_case(tmp_path, {**BASE, "oas": {"kind": "openapi_security", "schemes": {"bearer": "jwt"}}}))
    assert any("requires security scheme 'key'" in e for e in errors), errors
    errors = errors_of(write_case(tmp_path, BASE))
    assert any("only jwt policies carry scopes" in e for e in errors), errors


def test_broken_key_file_and_htpasswd(tmp_path: Path) -> None:
    spec = dict(SPEC, paths={k: v for k, v in SPEC["paths"].items() if k != "/c"})
    (tmp_path / "htpasswd").write_text("bob:{PLAIN}pw\n")
    policies = {**BASE, "b": {"kind": "basic_auth", "htpasswd": "htpasswd"}}
    path = write_case(tmp_path, policies, api_use=("oas", "b"))
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "keys.txt").write_text("no colon here\n")
    errors = errors_of(path)
    assert any("plain-text password" in e for e in errors), errors
    assert any("expected `client-name: key`" in e for e in errors), errors


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ("client-b: aaaaaaaaaaaaaaaaaaaa", "line 2: duplicate key"),
        ("client-b: AAAAAAAAAAaaaaaaaaaa", "line 2: key differs from the key of line 1 only in letter case"),
    ],
)
def test_keys_equal_ignoring_case_are_refused(tmp_path: Path, second: str, message: str) -> None:
    """nginx's map lookup ignores case: two such keys would make nginx refuse the bundle
    ("conflicting parameter", printing the key), so the build refuses them first."""
    spec = dict(SPEC, paths={k: v for k, v in SPEC["paths"].items() if k != "/c"})
    path = write_case(tmp_path, BASE)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "keys.txt").write_text(f"client-a: aaaaaaaaaaaaaaaaaaaa\n{second}\n")
    errors = errors_of(path)
    assert any(f"keys.txt {message}" in e and "policy.json:" in e for e in errors), errors
    assert not any("AAAA" in e or "aaaa" in e for e in errors), "a key leaked into a message"


def test_mtls_needs_a_client_ca_and_claims_need_a_jwt(tmp_path: Path) -> None:
    policies = {**BASE, "cert": {"kind": "mtls"}, "admins": {"kind": "claims", "rules": [{"claim": "role", "in": ["admin"]}]}}
    path = write_case(tmp_path, policies, api_use=("cert", "admins"))
    errors = errors_of(path)
    assert any("client_certificate" in e for e in errors), errors
    assert any("accepts no JWT" in e for e in errors), errors


def test_ip_rules_are_validated(tmp_path: Path) -> None:
    path = write_case(tmp_path, {**BASE, "ip": {"kind": "ip_access", "allow": ["10.0.0.1/8", "::1/129"]}}, api_use=("ip",))
    errors = errors_of(path)
    assert any("host bits set" in e for e in errors), errors
    assert len(errors) == 2


def test_schema_rejects_unknown_fields(tmp_path: Path) -> None:
    path = write_case(tmp_path, {**BASE, "jwt": {"kind": "jwt", "keys": [{"secret": "secret"}]}})
    assert errors_of(path)  # a secret without its pinned `alg`


def test_protected_locations_never_answer_with_return(tmp_path: Path) -> None:
    compiled = compile_policy(EXAMPLE)
    api_conf = compiled.bundle.files["api_conf.d/inventory.conf"]
    blocks = api_conf.split("    location ")
    protected = [b for b in blocks if "auth_request" in b]
    assert len(protected) >= 5
    for block in protected:
        body = block.split("\n    }")[0]
        assert "return" not in body and ("proxy_pass" in body or "try_files" in body), body


def test_example_is_deterministic_and_valid(tmp_path: Path) -> None:
    first = compile_policy(EXAMPLE).bundle
    second = compile_policy(EXAMPLE).bundle
    assert first.digest() == second.digest()
    write_atomic(first, tmp_path / "b")
    assert not parse_bundle(tmp_path / "b").errors


def test_plus_target_bundle_parses_and_uses_only_plus_directives(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('target: {flavor: oss, version: "1.22"}', 'target: {flavor: plus, version: "R33"}')
    plus_dir = tmp_path / "secured"
    plus_dir.mkdir()
    for item in EXAMPLE.parent.rglob("*"):
        if item.is_file():
            dest = plus_dir / item.relative_to(EXAMPLE.parent)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(item.read_bytes())
    (plus_dir / "policy.yaml").write_text(text)
    compiled = compile_policy(plus_dir / "policy.yaml")
    write_atomic(compiled.bundle, tmp_path / "b")
    parsed = parse_bundle(tmp_path / "b")
    assert not parsed.errors
    assert check_directives_for_target(parsed.payload, Target.parse("plus", "R33")) == []
    conf = "".join(compiled.bundle.files[f] for f in compiled.bundle.files if f.endswith(".conf"))
    # JWT-only operations use the native module; the API-key ones keep the njs handler.
    assert "auth_jwt_key_file" in conf and "auth_request" in conf
    # The same bundle on OSS would be refused: auth_jwt is Plus-only.
    oss_errors = check_directives_for_target(parsed.payload, Target.parse("oss", "1.22"))
    assert oss_errors and all("auth_jwt" in e.message for e in oss_errors)
    jwks = json.loads(compiled.bundle.files["secrets/jwks-issuer-jwt.json"])
    assert [k["alg"] for k in jwks["keys"]] == ["RS256"]
    assert compiled.bundle.modes["secrets/jwks-issuer-jwt.json"] == 0o600


@pytest.mark.parametrize("make", [lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), lambda: ec.generate_private_key(ec.SECP384R1())])
def test_plus_jwks_round_trips_the_converted_key(make) -> None:
    from apigen.policies.jwt_plus import jwk_of

    key = make()
    alg = "RS512" if isinstance(key, rsa.RSAPrivateKey) else "ES384"
    converted = jwt_keys.pem_key(_pem(key), alg, "kid-1")
    jwk = jwk_of(converted)
    algo = jwt.algorithms.RSAAlgorithm if alg == "RS512" else jwt.algorithms.ECAlgorithm
    loaded = algo.from_jwk(json.dumps(jwk))
    assert loaded.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == _spki(key)
    assert (jwk["alg"], jwk["kid"]) == (alg, "kid-1")


def test_direct_use_and_operation_skip(tmp_path: Path) -> None:
    """`use: [jwt]` on the API protects every operation and its unknown paths; `skip` opts one out."""
    path = write_case(tmp_path, {"jwt": BASE["jwt"]}, api_use=("jwt",))
    policy = json.loads(path.read_text())
    policy["apis"][0]["operations"] = {"getB": {"skip": ["jwt"]}}
    path.write_text(json.dumps(policy))
    conf = compile_policy(path).bundle.files["api_conf.d/t.conf"]
    blocks = {b.split('"')[1]: b.split("\n    }")[0] for b in conf.split("    location ")[1:]}
    assert "auth_request" in operation_location(conf, "t", "getA")[1]
    assert "auth_request" in operation_location(conf, "t", "getC")[1]
    assert "auth_request" not in operation_location(conf, "t", "getB")[1]
    assert "auth_request" in blocks["@apigen_unmatched/t/404"] and "try_files" in blocks["@apigen_unmatched/t/405"]


def test_unprotected_api_keeps_plain_404(tmp_path: Path) -> None:
    path = write_case(tmp_path, {"h": {"kind": "headers", "response": {"hide": ["Server"]}}}, api_use=("h",))
    bundle = compile_policy(path).bundle
    assert "@apigen_unmatched" not in "".join(bundle.files.values())
    assert "return 404;" in bundle.files["api_gateway.conf"] + bundle.files["api_conf.d/t.conf"]


# --- API keys in a query argument: the spellings clients percent-encode them to ---------------


def test_query_spellings_follow_the_client_libraries() -> None:
    from urllib.parse import quote

    from apigen.policies.auth_files import query_spellings

    key = "Ab0+/=~*!'()-._x"
    spellings = query_spellings(key)
    assert spellings[0] == key
    assert quote(key, safe="") in spellings  # Python (RFC 3986 unreserved kept)
    assert "Ab0%2B%2F%3D~*!'()-._x" in spellings  # JavaScript's encodeURIComponent
    assert "Ab0%2B%2F%3D%7E*%21%27%28%29-._x" in spellings  # Java's URLEncoder
    assert len(spellings) == len(set(spellings)) == 4
    assert query_spellings("k-1234567890abcdef") == ["k-1234567890abcdef"]  # nothing to encode


def _query_key_case(tmp_path: Path, keys: str, where: str = "query") -> Path:
    spec = dict(SPEC, paths={k: v for k, v in SPEC["paths"].items() if k != "/c"})
    policies = {**BASE, "keys": {"kind": "api_key", "keys_file": "keys.txt", "in": where, "name": "api_key" if where == "query" else "X-Key"}}
    path = write_case(tmp_path, policies, api_use=("keys",))
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "keys.txt").write_text(keys)
    return path


def test_query_keys_are_mapped_in_each_spelling_and_header_keys_are_not(tmp_path: Path) -> None:
    key = "base64+key/with==padding"
    compiled = compile_policy(_query_key_case(tmp_path, f"b64: {key}\n"))
    assert compiled.bundle is not None
    (text,) = [text for name, text in compiled.bundle.files.items() if "apikeys-" in name]
    assert '"b64 base64+key/with==padding"' in text
    assert '"b64 base64%2Bkey%2Fwith%3D%3Dpadding"' in text
    assert len(text.splitlines()) == 2  # the three libraries agree on this key

    header = tmp_path / "header"
    header.mkdir()
    compiled = compile_policy(_query_key_case(header, f"b64: {key}\n", where="header"))
    assert compiled.bundle is not None
    (text,) = [text for name, text in compiled.bundle.files.items() if "apikeys-" in name]
    assert len(text.splitlines()) == 1


def test_query_keys_that_read_alike_once_encoded_are_refused(tmp_path: Path) -> None:
    path = _query_key_case(tmp_path, "a: base64+key/with==padding\nb: base64%2Bkey%2Fwith%3D%3Dpadding\n")
    errors = errors_of(path)
    assert any("keys.txt line 2: key reads, percent-encoded in a query argument, as the key of line 1" in e for e in errors), errors
    assert not any("base64" in e for e in errors), "a key leaked into a message"
