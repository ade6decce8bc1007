"""Key sources of limits, splits and cache keys: variable names and combined expressions."""

from __future__ import annotations

import pytest

from apigen.policies.keys import invalid_source_reason, key_expression, required_variable, variable_name
from apigen.targets import Target

OSS = Target.parse("oss", "1.22")
PLUS = Target.parse("plus", "R33")


@pytest.mark.parametrize(
    ("source", "oss", "plus"),
    [
        ("client_ip", "binary_remote_addr", "binary_remote_addr"),
        ("request_id", "request_id", "request_id"),
        ("api_key_client", "apigen_client", "apigen_client"),
        ("header:X-Api-Key", "http_x_api_key", "http_x_api_key"),
        ("cookie:session_id", "cookie_session_id", "cookie_session_id"),
        ("query:tenant", "arg_tenant", "arg_tenant"),
        ("jwt_claim:sub", "apigen_jwt_claim_sub", "jwt_claim_sub"),
    ],
)
def test_variable_names(source: str, oss: str, plus: str) -> None:
    assert variable_name(source, OSS) == oss
    assert variable_name(source, PLUS) == plus


def test_expressions_never_empty_unless_exempt() -> None:
    assert key_expression(("client_ip",), OSS) == "$binary_remote_addr"
    assert key_expression(("request_id",), OSS) == "$request_id"
    # A missing header must not make the key empty (nginx would not count the request at all).
    assert key_expression(("header:X-User",), OSS) == "k:${http_x_user}"
    assert key_expression(("client_ip", "header:X-User"), OSS) == "k:${binary_remote_addr}:${http_x_user}"


def test_sources_that_need_a_definition_or_a_safe_name() -> None:
    assert required_variable("api_key_client", OSS) == "apigen_client"
    assert required_variable("jwt_claim:sub", OSS) == "apigen_jwt_claim_sub"
    assert required_variable("jwt_claim:sub", PLUS) is None  # auth_jwt defines $jwt_claim_*
    assert required_variable("header:X", OSS) is None
    assert invalid_source_reason("cookie:a-b") is not None
    assert invalid_source_reason("header:a-b") is None


def test_jwt_claim_keys_are_plus_only(tmp_path) -> None:
    """Found by a hunt: on OSS the error said no kind defines $apigen_jwt_claim_sub although a JWT
    policy was attached. OSS verifies tokens after limits and splits run: a claim cannot key them."""
    from apigen.policies.keys import target_source_reason
    from tests.support.traffic_build import compile_errors, policy_for

    assert target_source_reason("jwt_claim:sub", PLUS) is None
    assert "needs NGINX Plus" in (target_source_reason("jwt_claim:sub", OSS) or "")
    policies = {"per-user": {"kind": "rate_limit", "rate": "10r/s", "key": "jwt_claim:sub"}}
    errors = compile_errors(tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api={"use": ["per-user"]}))
    assert len(errors) == 1 and "'jwt_claim:sub' needs NGINX Plus" in errors[0]


def test_plus_jwt_claim_key_needs_auth_jwt_on_every_operation(tmp_path) -> None:
    """Found by a hunt: on Plus, $jwt_claim_* is set only where auth_jwt runs. A per-user limit on
    operations authenticated otherwise (or not at all) was one bucket shared by every client."""
    from pathlib import Path

    from tests.support.traffic_build import build, compile_errors, policy_for

    keys_dir = Path(__file__).resolve().parents[2] / "examples" / "secured" / "keys"
    policies = {
        "per-user": {"kind": "rate_limit", "rate": "10r/s", "key": ["client_ip", "jwt_claim:sub"]},
        "keys": {"kind": "api_key", "keys_file": str(keys_dir / "api-keys.txt")},
        "users": {"kind": "jwt", "keys": [{"pem": str(keys_dir / "issuer-public.pem"), "alg": "RS256"}]},
    }
    plus = {"flavor": "plus", "version": "R33"}
    upstreams = {"main": ["127.0.0.1:9"]}
    # API keys authenticate the operations: no auth_jwt, so no $jwt_claim_sub.
    data = policy_for(8080, upstreams, target=plus, policies=policies, api={"use": ["keys", "per-user"]})
    errors = compile_errors(tmp_path, data)
    lines = (tmp_path / "bad-src" / "policy.json").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if '"jwt_claim:sub"' in text)
    assert len(errors) == 1 and f"policy.json:{line}:" in errors[0], errors
    assert "$jwt_claim_sub is set only where NGINX Plus auth_jwt" in errors[0]
    # A jwt policy on one operation only: the others are listed.
    only_one = {"use": ["per-user"], "operations": {"listPets": {"use": ["users"]}}}
    data = policy_for(8080, upstreams, target=plus, policies=policies, api=only_one)
    errors = compile_errors(tmp_path, data)
    assert len(errors) == 1 and "pets.createPet" in errors[0] and "pets.listPets" not in errors[0], errors
    # Every operation authenticated by auth_jwt: the key works.
    data = policy_for(8080, upstreams, target=plus, policies=policies, api={"use": ["users", "per-user"]})
    conf = (build(tmp_path, data) / "api_gateway.conf").read_text()
    assert "${jwt_claim_sub}" in conf
