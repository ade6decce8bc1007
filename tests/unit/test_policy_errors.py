"""Policy-file errors: every schema violation at once with file:line:col, and semantic checks."""

from __future__ import annotations

from pathlib import Path

from apigen.diagnostics import Diagnostic
from tests.support.compile import errors_of, openapi, ops

SPEC = openapi(
    {
        "/pets": {"get": {"operationId": "listPets", "tags": ["pets"], "responses": {"200": {"description": "ok"}}}},
        "/pets/{id}": {"get": {"operationId": "getPet", "tags": ["pets"], "responses": {"200": {"description": "ok"}}}},
        "/admin": ops("post", op_prefix="admin_"),
    }
)


def formatted(errors: list[Diagnostic]) -> list[str]:
    return sorted(d.format().splitlines()[0] for d in errors)


def test_all_schema_errors_at_once_with_positions(tmp_path: Path) -> None:
    policy = """\
target: {flavor: oss, version: "1.22"}
gatway:
  listen: 8080
upstreams:
  pets:
    servers:
      - {address: 127.0.0.1:9001, weight: heavy}
    balance: fastest
    keepalive: 32
apis:
  - name: pets
    spec: openapi.json
    upstream: pets
    base_path: "no-slash"
    tags:
      pets: {uze: [x]}
"""
    errors = errors_of(tmp_path, policy, {"openapi.json": SPEC})
    assert formatted(errors) == [
        "policy.yaml:14:16: error: apis/0/base_path: 'no-slash' is not allowed here (must match ^(/[A-Za-z0-9._~!&'()*+,;=:@%-]+)*/?$) [schema]",
        "policy.yaml:16:14: error: apis/0/tags/pets: unknown key 'uze' (did you mean 'use'?) [schema]",
        "policy.yaml:2:1: error: unknown key 'gatway' (did you mean 'gateway'?) [schema]",
        "policy.yaml:7:43: error: upstreams/pets/servers/0/weight: expected integer, got str 'heavy' [schema]",
        "policy.yaml:8:14: error: upstreams/pets/balance: 'fastest' is not allowed here (must match "
        "^(round_robin|least_conn|ip_hash|random|random two( least_conn)?|hash (\\$[a-z_][a-z0-9_]*)+( consistent)?)$) [schema]",
    ]


def test_missing_required_and_bad_name(tmp_path: Path) -> None:
    policy = """\
upstreams:
  9bad: {servers: [{address: "127.0.0.1:1"}]}
apis:
  - {name: pets, spec: openapi.json}
"""
    errors = errors_of(tmp_path, policy, {"openapi.json": SPEC})
    assert formatted(errors) == [
        "policy.yaml:2:3: error: upstreams: invalid name '9bad': '9bad' is not allowed here (must match ^[A-Za-z][A-Za-z0-9_-]{0,63}$) [schema]",
        "policy.yaml:4:5: error: apis/0: 'upstream' is required [schema]",
    ]


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    (err,) = errors_of(tmp_path, "apis:\n  - name: [unclosed\n")
    assert err.position is not None and err.position.file == "policy.yaml" and err.position.line >= 2
    assert "invalid YAML" in err.message


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    (err,) = errors_of(tmp_path, "apis: []\napis: []\n")
    assert str(err.position).startswith("policy.yaml:2:")


def test_semantic_errors_all_reported(tmp_path: Path) -> None:
    policy = """\
upstreams:
  pets: {servers: [{address: "127.0.0.1:9001"}]}
policies:
  hdr: {kind: headers, request: {set: {X-A: "1"}}}
gateway:
  use: [missing-policy]
apis:
  - name: pets
    spec: openapi.json
    upstream: nowhere
    skip: [jwt]
    tags:
      pets: {upstream: other}
      nosuchtag: {use: [hdr]}
    operations:
      getPet: {use: [hdr]}
      deletePet: {use: [hdr]}
      "GET /pets": {use: [hdr]}
      "PUT /pets": {use: [hdr]}
"""
    errors = errors_of(tmp_path, policy, {"openapi.json": SPEC})
    assert formatted(errors) == [
        "policy.yaml:10:15: error: unknown upstream 'nowhere'",
        "policy.yaml:11:12: error: skip: 'jwt' is neither a policy name nor a policy kind in use",
        "policy.yaml:13:24: error: unknown upstream 'other'",
        "policy.yaml:14:7: error: tag 'nosuchtag' matches no operation of API 'pets'",
        "policy.yaml:17:7: error: operation selector 'deletePet' matches no operation of API 'pets'",
        "policy.yaml:19:7: error: operation selector 'PUT /pets' matches no operation of API 'pets'",
        "policy.yaml:6:9: error: unknown policy 'missing-policy'",
    ]
    hints = {d.message: d.hint for d in errors}
    assert hints["unknown upstream 'nowhere'"] == "defined upstreams: pets"


def test_missing_spec_points_at_the_policy_line(tmp_path: Path) -> None:
    policy = "upstreams: {u: {servers: [{address: '127.0.0.1:1'}]}}\napis:\n  - {name: a, spec: nope.yaml, upstream: u}\n"
    (err,) = errors_of(tmp_path, policy)
    assert err.format() == "policy.yaml:3:21: error: spec 'nope.yaml': file not found"


def test_duplicate_api_names(tmp_path: Path) -> None:
    policy = """\
upstreams: {u: {servers: [{address: "127.0.0.1:1"}]}}
apis:
  - {name: a, spec: openapi.json, upstream: u, base_path: /one}
  - {name: a, spec: openapi.json, upstream: u, base_path: /two}
"""
    errors = errors_of(tmp_path, policy, {"openapi.json": SPEC})
    assert "policy.yaml:4:12: error: duplicate API name 'a'" in formatted(errors)


def test_plus_only_parameter_on_oss_is_an_error_at_its_line(tmp_path: Path) -> None:
    policy = """\
upstreams:
  u:
    servers:
      - {address: "127.0.0.1:1", slow_start: 30s}
apis:
  - {name: a, spec: openapi.json, upstream: u}
"""
    (err,) = errors_of(tmp_path, policy, {"openapi.json": SPEC})
    assert err.format() == "policy.yaml:4:46: error: slow_start needs NGINX Plus (target flavor is oss)"


def test_spec_errors_and_policy_errors_are_reported_together(tmp_path: Path) -> None:
    policy = """\
upstreams: {u: {servers: [{address: "127.0.0.1:1"}]}}
apis:
  - {name: good, spec: openapi.json, upstream: nowhere}
  - {name: bad, spec: broken.yaml, upstream: u, base_path: /b}
"""
    errors = errors_of(tmp_path, policy, {"openapi.json": SPEC, "broken.yaml": "openapi: 3.0.3\npaths: [\n"})
    files = sorted({e.position.file for e in errors if e.position})
    assert files == ["broken.yaml", "policy.yaml"], [e.format() for e in errors]


def test_backup_servers_with_hash_balancing_and_bad_ports(tmp_path: Path) -> None:
    policy = """\
gateway: {listen: ["127.0.0.1:99999", 8080, "0"]}
upstreams:
  a:
    servers: [{address: "127.0.0.1:1"}, {address: "127.0.0.1:2", backup: true}]
    balance: ip_hash
  b:
    servers: [{address: "127.0.0.1:70000"}, {address: "[::1]:8080", backup: true}]
    balance: least_conn
apis:
  - {name: a, spec: openapi.json, upstream: a}
"""
    errors = errors_of(tmp_path, policy, {"openapi.json": SPEC})
    assert formatted(errors) == [
        "policy.yaml:1:20: error: port 99999 is out of range (1-65535)",
        "policy.yaml:1:45: error: port 0 is out of range (1-65535)",
        "policy.yaml:4:74: error: a backup server needs round_robin or least_conn balancing; nginx refuses `backup` with ip_hash",
        "policy.yaml:7:25: error: port 70000 is out of range (1-65535)",
    ]


def test_slow_start_with_hash_balancing_on_plus(tmp_path: Path) -> None:
    policy = """\
target: {flavor: plus, version: R33}
upstreams:
  a:
    servers: [{address: "127.0.0.1:1", slow_start: 10s}]
    balance: hash $remote_addr
apis:
  - {name: a, spec: openapi.json, upstream: a}
"""
    (err,) = errors_of(tmp_path, policy, {"openapi.json": SPEC})
    assert err.format() == "policy.yaml:4:52: error: slow_start cannot be used with hash balancing (nginx refuses it)"


def test_one_of_errors_describe_the_branch_of_the_values_type(tmp_path: Path) -> None:
    policy = """\
gateway: {listen: "abc"}
upstreams:
  u:
    servers: [{address: "127.0.0.1:1"}]
    timeouts: {read: "10 s", connect: -1}
apis:
  - {name: a, spec: openapi.json, upstream: u}
"""
    errors = errors_of(tmp_path, policy, {"openapi.json": SPEC})
    assert [e.message for e in sorted(errors, key=lambda e: e.sort_key())] == [
        "gateway/listen: 'abc' is not allowed here (must match "
        "^([0-9]{1,3}(\\.[0-9]{1,3}){3}|\\[[0-9a-fA-F:.]+\\]|\\*)?:?[0-9]{1,5}$)",
        "upstreams/u/timeouts/read: '10 s' is not allowed here (must match ^[0-9]{1,9}(ms|s|m|h|d)?$)",
        "upstreams/u/timeouts/connect: -1 is less than the minimum of 0",
    ]


def test_a_policy_without_a_kind_or_not_a_mapping_is_one_error(tmp_path: Path) -> None:
    # The kind dispatch (`if: {properties: {kind: {const: X}}}`) held for every kind when `kind`
    # was missing or the policy was no mapping, so every kind's `then` applied: 15 errors for a
    # missing kind ("'htpasswd' is required", "unknown key 'response'", ...), and a list policy
    # led with "... is valid under each of {'required': ['template']}, ..." (found by a hunt).
    policy = """\
upstreams:
  u: {servers: [{address: "127.0.0.1:1"}]}
policies:
  nokind: {response: {hide: [Server]}}
  alist: [kind, headers]
apis:
  - {name: a, spec: openapi.json, upstream: u, use: [nokind, alist]}
"""
    errors = errors_of(tmp_path, policy, {"openapi.json": SPEC})
    assert formatted(errors) == [
        "policy.yaml:4:11: error: policies/nokind: 'kind' is required [schema]",
        "policy.yaml:5:10: error: policies/alist: expected object, got list ['kind', 'headers'] [schema]",
    ]
