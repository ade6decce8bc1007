"""NGINX Plus JWT claim checks, evaluated by a real (OSS) nginx.

Plus cannot run here, but the checks apigen adds around `auth_jwt` are ordinary `map` blocks on
`$jwt_header_alg` / `$jwt_claim_*`: this test takes them from a Plus bundle, feeds them a request
header instead of the claim, and asks nginx what they answer. Issuers are compared byte for
byte: nginx lowercases literal map keys on lookup and reads a key starting with `~` as a regex
(an issuer "~" accepted every token).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, policy_for

ISSUERS = ["~", "https://Auth.example.com/", "a.b"]


def _plus_bundle(tmp_path: Path) -> Path:
    src = tmp_path / "bundle-src"
    src.mkdir()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (src / "public.pem").write_bytes(pem)
    policies = {"tokens": {"kind": "jwt", "keys": [{"pem": "public.pem", "alg": "RS256"}], "issuer": ISSUERS}}
    policy = policy_for(free_port(), {"main": ["127.0.0.1:9"]}, policies=policies, api={"use": ["tokens"]}, target={"flavor": "plus", "version": "R33"})
    return build(tmp_path, policy)


@pytest.mark.live
@requires_nginx
def test_plus_issuer_and_algorithm_maps_compare_exactly(tmp_path: Path, nginx_runner) -> None:
    bundle = _plus_bundle(tmp_path)
    conf = "".join(p.read_text() for p in sorted(bundle.rglob("*.conf")))
    assert "auth_jwt " in conf  # the native module, with apigen's maps around it
    blocks = {}
    for source, var in (("$jwt_claim_iss", "iss"), ("$jwt_header_alg", "alg")):
        m = re.search(r'map "\$' + re.escape(source[1:]) + r'" \$(\S+) \{\n.*?\n\}', conf, re.S)
        assert m, source
        blocks[var] = (m.group(1), m.group(0).replace(f'"{source}"', f"$http_x_{var}"))
    port = free_port()
    site = tmp_path / "maps"
    site.mkdir()
    (site / "nginx.conf").write_text(
        "events {}\nhttp {\n"
        + "\n".join(text for _, text in blocks.values())
        + f"\nserver {{\n listen 127.0.0.1:{port};\n"
        + "".join(f' location = /{name} {{ return 200 "${var}"; }}\n' for name, (var, _) in blocks.items())
        + "}\n}\n"
    )
    nginx = nginx_runner(site, port)

    def answer(name: str, value: str) -> str:
        return request("GET", f"{nginx.url}/{name}", headers={f"X-{name}": value}).text

    for issuer in ISSUERS:
        assert answer("iss", issuer) == "1", issuer
    for other in ("", "x", "~~", "https://auth.example.com/", "https://Auth.example.com", "https://Auth.example.com/x", "aXb", "A.B"):
        assert answer("iss", other) == "0", other
    assert answer("alg", "RS256") == "1"
    assert [answer("alg", a) for a in ("rs256", "RS2560", "HS256", "none", "")] == ["0"] * 5


@pytest.mark.live
@requires_nginx
def test_plus_refuses_a_repeated_token_cookie(tmp_path: Path, nginx_runner) -> None:
    """As on OSS: auth_jwt verifies the first of two token cookies while the upstream gets both,
    so auth_jwt_require holds a map that is "1" only for a single token cookie (any case)."""
    src = tmp_path / "bundle-src"
    src.mkdir()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (src / "public.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    policies = {"tokens": {"kind": "jwt", "keys": [{"pem": "public.pem", "alg": "RS256"}], "token": {"from": "cookie", "name": "Sess"}}}
    target = {"flavor": "plus", "version": "R33"}
    bundle = build(tmp_path, policy_for(free_port(), {"main": ["127.0.0.1:9"]}, policies=policies, api={"use": ["tokens"]}, target=target))
    conf = "".join(p.read_text() for p in sorted(bundle.rglob("*.conf")))
    m = re.search(r'map "\$http_cookie" \$(apigen_jwt_ck_\S+) \{\n.*?\n\}', conf, re.S)
    assert m and "token=$cookie_Sess" in conf
    assert re.search(r"auth_jwt_require [^;]*\$" + m.group(1), conf)
    port = free_port()
    site = tmp_path / "maps"
    site.mkdir()
    (site / "nginx.conf").write_text(
        f"events {{}}\nhttp {{\n{m.group(0)}\nserver {{\n listen 127.0.0.1:{port};\n"
        f' location = /ck {{ return 200 "${m.group(1)}"; }}\n}}\n}}\n'
    )
    nginx = nginx_runner(site, port)
    for cookie, single in (("Sess=t", "1"), ("a=1; sess=t", "1"), ("xsess=1; Sess=t", "1"), ("Sess=t; SESS=u", "0"), ("Sess=t,Sess=u", "0")):
        assert request("GET", f"{nginx.url}/ck", headers={"Cookie": cookie}).text == single, cookie
