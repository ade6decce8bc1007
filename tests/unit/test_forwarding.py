"""The gateway's own request headers (apigen/plan/forwarding.py), decided in Python."""

from __future__ import annotations

from pathlib import Path

from apigen.pipeline import compile_policy
from apigen.plan.forwarding import client_facts

PETSTORE = Path(__file__).resolve().parents[2] / "examples" / "petstore" / "policy.yaml"


def test_a_decided_header_leaves_out_the_gateways_line_and_identity_is_cleared() -> None:
    config = compile_policy(PETSTORE, render=False).config
    plain = client_facts(config, host=True)
    assert plain.host and plain.xff_note
    assert [str(n) for n, _ in plain.lines] == ["X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Request-ID",
                                              "X-HTTP-Method", "X-HTTP-Method-Override", "X-Method-Override",
                                              "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Scheme",
                                              "X-Original-URL", "X-Rewrite-URL"]
    assert all(str(v) == '""' for _, v in plain.lines[-9:])  # method overrides, URL parts: never sent
    decided = client_facts(config, host=True, decided={"host", "x-forwarded-for", "x-real-ip"}, cleared=("X-Client-Name",))
    assert not decided.host and not decided.xff_note
    assert [(str(n), str(v)) for n, v in decided.lines][-1] == ('"X-Client-Name"', '""')
    assert "X-Real-IP" not in [str(n) for n, _ in decided.lines]
    assert not client_facts(config, host=False, note=False).xff_note
