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
