"""Effective policies per operation: levels, skip, replacement vs accumulation, upstream, timeouts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from apigen.diagnostics import Diagnostics
from apigen.model.types import GatewayConfig, PolicyDef
from apigen.plan.effective import EffectiveOperation, resolve_operation
from apigen.policies import PolicyKind, registry
from tests.support.compile import compile_case

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/pets": {
            "get": {"operationId": "listPets", "tags": ["pets", "read"], "responses": {"200": {"description": "ok"}}},
            "post": {"operationId": "addPet", "tags": ["pets"], "responses": {"200": {"description": "ok"}}},
        },
        "/health": {"get": {"operationId": "health", "responses": {"200": {"description": "ok"}}}},
    },
}


def policy(**api_extra) -> dict:
    headers = {"kind": "headers", "request": {"set": {"X-A": "1"}}}
    return {
        "upstreams": {
            "main": {"servers": [{"address": "127.0.0.1:9001"}], "timeouts": {"connect": "1s", "read": "10s"}},
            "slow": {"servers": [{"address": "127.0.0.1:9002"}], "timeouts": {"read": "60s"}},
        },
        "policies": {name: headers for name in ("g", "a", "t1", "t2", "o", "x")},
        "gateway": {"use": ["g"]},
        "apis": [{"name": "api", "spec": "openapi.json", "upstream": "main", **api_extra}],
    }


def resolve(config: GatewayConfig, op_id: str, diags: Diagnostics | None = None, source=None) -> EffectiveOperation:
    api = config.apis[0]
    op = next(o for o in api.operations if o.operation_id == op_id)
    return resolve_operation(api, op, config, diags, source)


def names(eff: EffectiveOperation) -> list[tuple[str, str]]:
    return [(p.policy.name, p.level) for p in eff.policies]


def test_accumulating_kind_collects_every_level_in_order(tmp_path: Path) -> None:
    config = compile_case(
        tmp_path,
        policy(
            use=["a"],
            tags={"read": {"use": ["t2"]}, "pets": {"use": ["t1"]}},
            operations={"listPets": {"use": ["o"]}},
        ),
        {"openapi.json": SPEC},
    ).config
    assert names(resolve(config, "listPets")) == [("g", "gateway"), ("a", "api"), ("t1", "tag"), ("t2", "tag"), ("o", "operation")]
    assert names(resolve(config, "addPet")) == [("g", "gateway"), ("a", "api"), ("t1", "tag")]
    assert names(resolve(config, "health")) == [("g", "gateway"), ("a", "api")]


def test_skip_by_name_and_by_kind(tmp_path: Path) -> None:
    config = compile_case(
        tmp_path,
        policy(
            use=["a"],
            tags={"pets": {"skip": ["g"]}},
            operations={"POST /pets": {"skip": ["headers"], "use": ["o"]}},
        ),
        {"openapi.json": SPEC},
    ).config
    assert names(resolve(config, "listPets")) == [("a", "api")]
    # Skipping a kind removes every inherited policy of it; the level's own `use` still applies.
    assert names(resolve(config, "addPet")) == [("o", "operation")]
    assert names(resolve(config, "health")) == [("g", "gateway"), ("a", "api")]


class _Single(PolicyKind):
    name = "single"
    accumulates = False


@pytest.fixture
def single_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry, "single", _Single())


def as_single(config: GatewayConfig, *names_: str) -> GatewayConfig:
    policies = dict(config.policies)
    for n in names_:
        policies[n] = dataclasses.replace(policies[n], kind="single")
    return dataclasses.replace(config, policies=policies)


def test_non_accumulating_kind_is_replaced_by_a_more_specific_level(tmp_path: Path, single_kind: None) -> None:
    config = compile_case(
        tmp_path,
        policy(use=["a"], tags={"pets": {"use": ["t1"]}}, operations={"health": {"use": ["o"]}}),
        {"openapi.json": SPEC},
    ).config
    config = as_single(config, "a", "t1", "o")
    assert names(resolve(config, "listPets")) == [("g", "gateway"), ("t1", "tag")]
    assert names(resolve(config, "health")) == [("g", "gateway"), ("o", "operation")]


def test_two_non_accumulating_policies_at_one_level_is_an_error(tmp_path: Path, single_kind: None) -> None:
    result = compile_case(tmp_path, policy(use=["a", "x"]), {"openapi.json": SPEC})
    config = as_single(result.config, "a", "x")
    diags = Diagnostics()
    eff = resolve(config, "health", diags, result.source)
    assert names(eff) == [("g", "gateway"), ("x", "api")]
    (err,) = diags.errors
    assert err.format().split("\n")[0] == (
        "policy.yaml:87:9: error: two single policies attached at the same level to GET /health (health); only one applies"
    )


def test_sibling_tags_are_one_level(tmp_path: Path, single_kind: None) -> None:
    """Found by a hunt: tags applied in tag-name order, so a tag's skip removed what a sibling tag
    attached (an ip_access) or not, depending on the tags' names."""
    result = compile_case(
        tmp_path,
        policy(use=["a"], tags={"pets": {"use": ["t1"]}, "read": {"skip": ["a", "t1"]}}),
        {"openapi.json": SPEC},
    )
    # read's skip removes the API's `a`, never the sibling's t1 (whatever the tags' names).
    assert names(resolve(result.config, "listPets")) == [("g", "gateway"), ("t1", "tag")]
    twice = compile_case(tmp_path / "2", policy(tags={"pets": {"use": ["t1"]}, "read": {"use": ["t2"]}}), {"openapi.json": SPEC})
    config = as_single(twice.config, "t1", "t2")
    diags = Diagnostics()
    resolve(config, "listPets", diags, twice.source)
    assert [e.message for e in diags.errors] == [
        "two single policies attached at the same level to GET /pets (listPets); only one applies"
    ]
    # The same policy from two sibling tags is attached once, without an error.
    same = compile_case(tmp_path / "3", policy(tags={"pets": {"use": ["t1"]}, "read": {"use": ["t1"]}}), {"openapi.json": SPEC})
    config = as_single(same.config, "t1")
    diags = Diagnostics()
    assert names(resolve(config, "listPets", diags, same.source)) == [("g", "gateway"), ("t1", "tag")]
    assert not diags.errors


def test_an_upstream_under_a_less_specific_split_is_an_error(tmp_path: Path) -> None:
    from tests.support.compile import errors_of

    p = policy(use=["canary"], operations={"health": {"upstream": "slow"}})
    p["upstreams"]["slow"]["timeouts"] = {"connect": "1s", "read": "10s"}
    p["policies"]["canary"] = {"kind": "split", "weights": {"main": 90, "slow": 10}}
    (err,) = errors_of(tmp_path, p, {"openapi.json": SPEC})
    # The API's own (required) upstream under a gateway-wide split is what the split replaces.
    wide = policy()
    wide["upstreams"]["slow"]["timeouts"] = {"connect": "1s", "read": "10s"}
    wide["policies"]["canary"] = {"kind": "split", "weights": {"main": 90, "slow": 10}}
    wide["gateway"]["use"] = ["g", "canary"]
    assert compile_case(tmp_path / "wide", wide, {"openapi.json": SPEC}).config is not None
    assert err.message == (
        "GET /health (health): upstream 'slow' from the operation level is never used: split 'canary' "
        "(from the api level) picks among main, slow"
    )


def test_upstream_and_timeouts_per_level(tmp_path: Path) -> None:
    config = compile_case(
        tmp_path,
        policy(
            timeouts={"send": "5s"},
            tags={"pets": {"upstream": "slow"}},
            operations={"addPet": {"upstream": "main", "timeouts": {"connect": "3s"}}},
        ),
        {"openapi.json": SPEC},
    ).config
    health, listing, adding = (resolve(config, i) for i in ("health", "listPets", "addPet"))
    assert (health.upstream, health.upstream_origin) == ("main", "api")
    assert (health.timeouts.connect, health.timeouts.read, health.timeouts.send) == ("1s", "10s", "5s")
    assert (listing.upstream, listing.upstream_origin) == ("slow", "tag")
    # The chosen upstream's own timeouts fill what no level sets; the API's send timeout stays.
    assert (listing.timeouts.connect, listing.timeouts.read, listing.timeouts.send) == (None, "60s", "5s")
    assert (adding.upstream, adding.upstream_origin) == ("main", "operation")
    assert (adding.timeouts.connect, adding.timeouts.read, adding.timeouts.send) == ("3s", "10s", "5s")


def test_policy_def_keeps_its_source_path(tmp_path: Path) -> None:
    config = compile_case(tmp_path, policy(), {"openapi.json": SPEC}).config
    assert config.policies["g"] == PolicyDef("g", "headers", config.policies["g"].config, ("policies", "g"))
