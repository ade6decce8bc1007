"""Spec normalisation: Swagger 2.0, OpenAPI 3.0 and 3.1 become the same Operation lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from apigen.diagnostics import Diagnostics
from apigen.load.spec_loader import load_spec, locate, parse_document
from apigen.model.openapi import normalise_base_path, summarise_spec
from tests.support.compile import compile_case, errors_of, openapi, ops, simple_policy

SWAGGER2 = """\
swagger: "2.0"
info: {title: t, version: "1"}
basePath: /api/v2/
paths:
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, type: string}
    get:
      operationId: getPet
      tags: [pets]
      parameters:
        - {name: verbose, in: query, type: boolean}
      responses:
        200: {description: ok}
    delete:
      parameters:
        - $ref: "#/parameters/force"
      responses:
        204: {description: gone}
parameters:
  force: {name: force, in: query, type: boolean}
"""

OPENAPI30 = """\
openapi: 3.0.3
info: {title: t, version: "1"}
servers:
  - url: https://{host}/{basePath}
    variables:
      host: {default: api.example.com}
      basePath: {default: v3/store}
  - url: /ignored
paths:
  /orders/{id}.json:
    parameters:
      - $ref: "#/components/parameters/id"
      - {name: trace, in: header, schema: {type: string}}
    get:
      operationId: getOrder
      parameters:
        - {name: trace, in: header, required: true, schema: {type: integer}}
      responses:
        200: {description: ok}
        default: {description: error}
components:
  parameters:
    id: {name: id, in: path, required: true, schema: {type: integer}}
"""

OPENAPI31 = """\
openapi: 3.1.0
info: {title: t, version: "1"}
servers: [{url: /games}]
paths:
  /board/{row}/{column}:
    put:
      operationId: put-square
      parameters:
        - {name: row, in: path, required: true, schema: {type: integer, minimum: 1}}
        - {name: column, in: path, required: true, schema: {type: integer}}
      responses:
        "200": {description: ok}
"""


def summary_of(tmp_path: Path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    diags = Diagnostics()
    summary = summarise_spec(load_spec(path, tmp_path), "api", diags)
    assert not diags.errors, diags.errors
    assert summary is not None
    return summary


def test_swagger2_base_path_parameters_and_generated_ids(tmp_path: Path) -> None:
    s = summary_of(tmp_path, SWAGGER2)
    assert (s.version, s.base_path) == ("2.0", "/api/v2")
    get, delete = s.operations
    assert (get.operation_id, get.method, get.path, get.tags) == ("getPet", "GET", "/pets/{petId}", ("pets",))
    assert {(p.name, p.location, p.required) for p in get.parameters} == {("petId", "path", True), ("verbose", "query", False)}
    assert get.parameters[0].schema == {"type": "string"}  # 2.0 schema fields lifted from the parameter
    assert (delete.operation_id, delete.generated_id) == ("delete_pets_petid", True)
    assert {p.name for p in delete.parameters} == {"petId", "force"}  # path-level + $ref parameter


def test_openapi30_server_variables_and_parameter_override(tmp_path: Path) -> None:
    s = summary_of(tmp_path, OPENAPI30)
    assert (s.version, s.base_path) == ("3.0", "/v3/store")
    (op,) = s.operations
    params = {(p.name, p.location): p for p in op.parameters}
    assert params[("id", "path")].schema == {"type": "integer"}
    # An operation-level parameter replaces the path-level one with the same name and location.
    assert params[("trace", "header")].required and params[("trace", "header")].schema == {"type": "integer"}


def test_openapi31(tmp_path: Path) -> None:
    s = summary_of(tmp_path, OPENAPI31)
    assert (s.version, s.base_path) == ("3.1", "/games")
    (op,) = s.operations
    assert (op.operation_id, op.method) == ("put-square", "PUT")
    assert [p.name for p in op.parameters] == ["row", "column"]


@pytest.mark.parametrize(
    ("servers", "base"),
    [
        ([], ""),
        ([{"url": "/"}], ""),
        ([{"url": "https://example.com"}], ""),
        ([{"url": "https://example.com/v1/"}], "/v1"),
        ([{"url": "v1"}], "/v1"),
        ([{"url": "//cdn.example.com/x?y=1"}], "/x"),
        ([{"url": "{scheme}://h/{v}", "variables": {"scheme": {"default": "https"}, "v": {"default": "v9"}}}], "/v9"),
    ],
)
def test_server_url_to_base_path(tmp_path: Path, servers: list, base: str) -> None:
    import json

    doc = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "servers": servers, "paths": {}}
    assert summary_of(tmp_path, json.dumps(doc), "spec.json").base_path == base


def test_normalise_base_path() -> None:
    assert normalise_base_path("/") == ""
    assert normalise_base_path("v1/") == "/v1"
    assert normalise_base_path("//a//") == "/a"


def test_unquoted_integer_keys_are_strings(tmp_path: Path) -> None:
    doc = parse_document("a:\n  200: {description: ok}\n  404: x\n  true: y\n  2024-01-01: d\n", "x.yaml")
    assert list(doc["a"]) == ["200", "404", "true", "2024-01-01"]


def test_multi_file_relative_refs(tmp_path: Path) -> None:
    (tmp_path / "paths").mkdir()
    (tmp_path / "common").mkdir()
    (tmp_path / "spec.yaml").write_text(
        """\
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /items/{id}:
    $ref: "paths/item.yaml"
"""
    )
    (tmp_path / "paths" / "item.yaml").write_text(
        """\
parameters:
  - $ref: "../common/params.yaml#/id"
get:
  operationId: getItem
  responses:
    200: {description: ok}
"""
    )
    (tmp_path / "common" / "params.yaml").write_text("id: {name: id, in: path, required: true, schema: {type: string}}\n")
    result = compile_case(tmp_path, simple_policy("spec.yaml"))
    (op,) = result.config.apis[0].operations
    assert op.operation_id == "getItem" and op.parameters[0].name == "id"
    assert op.spec_uri.endswith("/paths/item.yaml")
    # Messages about the operation point into the file that holds it.
    assert (op.spec_display, op.spec_path) == ("paths/item.yaml", ("get",))
    assert str(locate(op.spec_uri, op.spec_path, op.spec_display)) == "paths/item.yaml:4:3"
    # Every file is an input: its digest is in the bundle headers, named relative to the policy.
    assert [name for name, _ in result.config.input_digests] == [
        "common/params.yaml", "paths/item.yaml", "policy.yaml", "spec.yaml"
    ]  # fmt: skip


def test_fields_next_to_a_path_item_ref_are_kept(tmp_path: Path) -> None:
    """OpenAPI 3.0 and Swagger 2.0 allow fields beside a path item's $ref: they were dropped and
    their operations answered 405 (found by a hunt). Where both define a method, the local wins."""
    (tmp_path / "spec.yaml").write_text(
        """\
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /pets/{id}:
    $ref: "pets.yaml"
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    post:
      operationId: createPet
      responses: {"201": {description: ok}}
"""
    )
    (tmp_path / "pets.yaml").write_text(
        """\
parameters:
  - {name: id, in: path, required: true, schema: {type: string}}
  - {name: trace, in: header, schema: {type: string}}
get:
  operationId: getPet
  responses: {"200": {description: ok}}
post:
  operationId: remotePost
  responses: {"200": {description: ok}}
"""
    )
    result = compile_case(tmp_path, simple_policy("spec.yaml"))
    ops = {o.operation_id: o for o in result.config.apis[0].operations}
    assert sorted(ops) == ["createPet", "getPet"]
    assert (ops["createPet"].spec_display, ops["createPet"].spec_path) == ("spec.yaml", ("paths", "/pets/{id}", "post"))
    assert ops["getPet"].spec_display == "pets.yaml"
    params = {p.name: p.schema for p in ops["getPet"].parameters}
    assert params == {"id": {"type": "integer"}, "trace": {"type": "string"}}  # the local one wins


def test_a_policy_base_path_replaces_a_broken_server_url(tmp_path: Path) -> None:
    """The hint of a bad server URL says to set base_path in the policy: that now works (the
    document's servers were still checked and failed the API); an undefined server variable is
    warned (it read as empty)."""
    (tmp_path / "spec.yaml").write_text(
        'openapi: 3.0.3\ninfo: {title: t, version: "1"}\nservers: [{url: "/a/../{v}/{gone}", variables: {v: {default: x}}}]\n'
        "paths:\n  /p:\n    get: {operationId: p, responses: {'200': {description: ok}}}\n"
    )
    errors = errors_of(tmp_path, simple_policy("spec.yaml"))
    assert any("has a dot segment" in d.message for d in errors)
    diags = Diagnostics()
    summarise_spec(load_spec(tmp_path / "spec.yaml", tmp_path), "api", diags)
    assert [d.message for d in diags.warnings] == ["server variable {gone} is not defined in `variables`: the base path reads it as empty"]
    policy = simple_policy("spec.yaml")
    policy["apis"][0]["base_path"] = "/v2"
    fixed = compile_case(tmp_path, policy)
    assert not fixed.diagnostics.errors and fixed.config.apis[0].base_path == "/v2"


def test_path_and_operation_servers_are_warned(tmp_path: Path) -> None:
    """The gateway routes every operation under one base path: per-path and per-operation
    `servers` were ignored silently (found by a hunt)."""
    diags = Diagnostics()
    (tmp_path / "spec.yaml").write_text(
        'openapi: 3.0.3\ninfo: {title: t, version: "1"}\nservers: [{url: /v1}]\npaths:\n'
        "  /a:\n    servers: [{url: /internal}]\n    get: {operationId: a, responses: {'200': {description: ok}}}\n"
        "  /b:\n    get:\n      operationId: b\n      servers: [{url: /r}]\n      responses: {'200': {description: ok}}\n"
        # The document's own servers repeated (Twilio does it on every path) change nothing.
        "  /c:\n    servers: [{url: /v1, description: same}]\n    get: {operationId: c, responses: {'200': {description: ok}}}\n"
    )
    summarise_spec(load_spec(tmp_path / "spec.yaml", tmp_path), "api", diags)
    assert [(d.code, str(d.position)) for d in diags.warnings] == [
        ("servers-override-ignored", "spec.yaml:6:5"),
        ("servers-override-ignored", "spec.yaml:11:7"),
    ]


def test_schema_patterns_are_ecma_regexes(tmp_path: Path) -> None:
    """JSON Schema patterns are ECMA-262: `\\p{L}` and named groups `(?<y>...)` failed the whole
    document (Python's `re` checked them; found by a hunt). Broken patterns still fail."""
    def spec(pattern: str) -> dict:
        param = {"name": "q", "in": "query", "schema": {"type": "string", "pattern": pattern}}
        return openapi({"/p": {"get": {"operationId": "p", "parameters": [param], "responses": {"200": {"description": "ok"}}}}})

    for pattern in (r"^\p{L}+$", r"^(?<y>\d{4})$", r"(?i)abc"):
        assert compile_case(tmp_path / str(len(pattern)), simple_policy(), {"openapi.json": spec(pattern)}).config.apis
    errors = errors_of(tmp_path / "bad", simple_policy(), {"openapi.json": spec("[a-")})
    assert any("is not a 'regex'" in e.message for e in errors), errors


def test_refs_in_example_data_are_data_and_semicolons_are_warned(tmp_path: Path) -> None:
    """A `$ref` key inside an example is example content, not a reference (the remote-ref check
    failed such a spec; a review); paths with a raw `;` and matrix parameters are unroutable
    since the path-confusion check refuses `;`: warned."""
    (tmp_path / "spec.yaml").write_text(
        'openapi: 3.0.3\ninfo: {title: t, version: "1"}\npaths:\n'
        "  /a;v2:\n    get: {operationId: a, responses: {'200': {description: ok, content: {application/json: {\n"
        "      schema: {type: object, example: {$ref: 'https://example.com/x'}},\n"
        "      examples: {one: {value: {$ref: 'https://example.com/y'}}}}}}}}\n"
        "  /cars/{id}:\n    get: {operationId: car, parameters: [{name: id, in: path, required: true, style: matrix, schema: {type: string}}],"
        " responses: {'200': {description: ok}}}\n"
    )
    result = compile_case(tmp_path, simple_policy("spec.yaml"))
    warned = [(d.code, d.message.split(":")[0]) for d in result.diagnostics.warnings if d.code == "unroutable-path"]
    assert warned == [("unroutable-path", "path '/a;v2' is never matched"), ("unroutable-path", "path parameter 'id' of GET /cars/{id} has style matrix (`;id=...`)")]


def test_a_backslash_in_a_spec_path_is_warned_and_the_rest_builds(tmp_path: Path) -> None:
    """A raw backslash in a path is refused 400 by the path-confusion check, like `;`: the path is
    warned as unroutable (it built without a word; found by a hunt) and the API's other paths
    build. An encoded one (%5C) stays an error: nginx decodes it into the routed URI."""
    (tmp_path / "spec.yaml").write_text(
        'openapi: 3.0.3\ninfo: {title: t, version: "1"}\npaths:\n'
        "  /files:\n    get: {operationId: files, responses: {'200': {description: ok}}}\n"
        "  /files/a\\b:\n    get: {operationId: back, responses: {'200': {description: ok}}}\n"
    )
    result = compile_case(tmp_path, simple_policy("spec.yaml"))
    warned = [d.message.split(":")[0] for d in result.diagnostics.warnings if d.code == "unroutable-path"]
    assert warned == ["path '/files/a\\\\b' is never matched"]
    assert "backslash in a path 400" in result.diagnostics.warnings[0].message
    assert any(r.template.text == "/files" for r in result.plan.routes.routes)


def test_spec_outside_the_policy_folder_is_named_relatively(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "api.json").write_text(
        '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}'
    )
    result = compile_case(tmp_path / "conf", simple_policy("../specs/api.json"))
    assert [name for name, _ in result.config.input_digests] == ["../specs/api.json", "policy.yaml"]


def test_dangling_ref_is_an_error_with_a_position(tmp_path: Path) -> None:
    spec = """\
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a:
    get:
      parameters:
        - $ref: "#/components/parameters/missing"
      responses:
        200: {description: ok}
"""
    errors = errors_of(tmp_path, simple_policy("spec.yaml"), {"spec.yaml": spec})
    assert errors and all(e.position is not None and e.position.file == "spec.yaml" for e in errors)
    assert any("missing" in e.message for e in errors)


def test_duplicate_operation_ids_are_an_error_at_the_second(tmp_path: Path) -> None:
    spec = """\
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a:
    get:
      operationId: same
      responses: {200: {description: ok}}
  /b:
    get:
      operationId: same
      responses: {200: {description: ok}}
"""
    (err,) = errors_of(tmp_path, simple_policy("spec.yaml"), {"spec.yaml": spec})
    assert "Operation ID 'same' for 'get' in '/b' is not unique" in err.message
    assert str(err.position) == "spec.yaml:10:20"


def test_generated_operation_ids_never_collide(tmp_path: Path) -> None:
    spec = openapi(
        {
            "/a/b": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/a_b": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/c": {"get": {"operationId": "get_a_b_2", "responses": {"200": {"description": "ok"}}}},
        }
    )
    result = compile_case(tmp_path, simple_policy(), {"openapi.json": spec})
    ids = [o.operation_id for o in result.config.apis[0].operations]
    assert ids == ["get_a_b", "get_a_b_3", "get_a_b_2"]


def test_not_an_openapi_document(tmp_path: Path) -> None:
    (err,) = errors_of(tmp_path, simple_policy("spec.yaml"), {"spec.yaml": "hello: world\n"})
    assert "not an OpenAPI document" in err.message and str(err.position) == "spec.yaml:1:1"


def test_openapi_validator_errors_are_located(tmp_path: Path) -> None:
    spec = """\
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a:
    get:
      responses:
        200: {descriptionn: ok}
"""
    errors = errors_of(tmp_path, simple_policy("spec.yaml"), {"spec.yaml": spec})
    assert errors and all(e.code == "openapi" for e in errors)
    assert any(e.position is not None and e.position.line == 7 for e in errors), [d.format() for d in errors]


def test_locate_finds_positions_in_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{\n  "paths": {\n    "/x": {"get": {"operationId": "x"}}\n  }\n}\n')
    (tmp_path / "a.yaml").write_text("paths:\n  /x:\n    get:\n      operationId: x\n  200: y\n")
    uri_json, uri_yaml = (tmp_path / "a.json").as_uri(), (tmp_path / "a.yaml").as_uri()
    assert str(locate(uri_json, ("paths", "/x", "get", "operationId"), "a.json")) == "a.json:3:35"
    assert str(locate(uri_json, ("paths", "/x", "get"), "a.json", key=True)) == "a.json:3:12"
    assert str(locate(uri_yaml, ("paths", "/x", "get", "operationId"), "a.yaml")) == "a.yaml:4:20"
    assert str(locate(uri_yaml, ("paths", "200"), "a.yaml", key=True)) == "a.yaml:5:3"
    assert str(locate(uri_yaml, ("paths", "/nope", "deeper"), "a.yaml")) == "a.yaml:2:3"  # closest ancestor


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("https://example.com/p.yaml#/id", "remote references are not supported"),
        ("missing.yaml#/id", "no such file, or nothing at that place in it"),
    ],
)
def test_unresolvable_refs_point_at_the_ref(tmp_path: Path, ref: str, why: str) -> None:
    spec = f"""\
openapi: 3.0.3
info: {{title: t, version: "1"}}
paths:
  /a:
    get:
      parameters:
        - $ref: "{ref}"
      responses:
        200: {{description: ok}}
"""
    (err,) = errors_of(tmp_path, simple_policy("spec.yaml"), {"spec.yaml": spec})
    assert err.format().startswith(f"spec.yaml:7:17: error: cannot resolve $ref {ref!r}: {why}") and err.code == "openapi"


TRICKY_YAML = """\
openapi: 3.0.3
info: {title: "t: x", version: '1'}
x-anchors:
  base: &base {type: string, description: "multi
    line"}
paths:
  /a/{id}:
    get:
      summary: >
        folded
        text
      parameters:
        - {name: id, in: path, required: true, schema: *base}
      responses:
        200: {description: ok}
        "404":
          description: |
            literal
        default: {description: other}
  "/b": {}
"""


@pytest.mark.parametrize("text", [TRICKY_YAML, '{"a": {"b": [1, {"c": "d\\\\u00e9"}], "200": null}, "e": []}\n'])
def test_fast_positions_equal_the_exact_loader(text: str) -> None:
    from apigen.load.spec_loader import _compose_positions
    from apigen.load.yaml_positions import load_yaml_with_positions

    _, exact = load_yaml_with_positions(text, "x")
    fast = _compose_positions(text, "x")
    assert fast.values == exact.values
    assert fast.keys == exact.keys


def test_every_referenced_file_is_an_input(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "pet.yaml").write_text("Pet: {type: object, properties: {id: {$ref: 'id.yaml'}}}\n")
    (tmp_path / "schemas" / "id.yaml").write_text("type: integer\n")
    spec = openapi(
        {
            "/pets": {
                "get": {
                    "operationId": "list",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "schemas/pet.yaml#/Pet"}}},
                        }
                    },
                }
            }
        }
    )
    result = compile_case(tmp_path, simple_policy(), {"openapi.json": spec})
    assert [name for name, _ in result.config.input_digests] == [
        "openapi.json", "policy.yaml", "schemas/id.yaml", "schemas/pet.yaml"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{\n  "openapi": "3.0.3",\n  "paths": {\n    "/a": {"get": {]}\n  }\n}\n', "spec.yaml:4:20"),
        ("openapi: 3.0.3\npaths:\n  /a: [unclosed\n", "spec.yaml:4:1"),
        ("openapi: 3.0.3\n  bad: indent\n", "spec.yaml:2:6"),
    ],
)
def test_spec_syntax_errors_are_located(tmp_path: Path, text: str, where: str) -> None:
    (err,) = errors_of(tmp_path, simple_policy("spec.yaml"), {"spec.yaml": text})
    assert str(err.position) == where and err.message.startswith("invalid YAML or JSON: "), err.format()


def test_broken_referenced_file_is_located_inside_it(tmp_path: Path) -> None:
    spec = 'openapi: 3.0.3\ninfo: {title: t, version: "1"}\npaths:\n  /a:\n    $ref: "item.yaml"\n'
    (err,) = errors_of(tmp_path, simple_policy("spec.yaml"), {"spec.yaml": spec, "item.yaml": "get:\n  responses: [x\n"})
    assert str(err.position) == "item.yaml:3:1" and "invalid YAML or JSON" in err.message


def test_unroutable_spec_paths_are_warned(tmp_path) -> None:
    """Found by a hunt: these built silently into routes nginx never reaches."""
    import json

    from apigen.pipeline import compile_policy

    ok = {"get": {"responses": {"200": {"description": "ok"}}}}
    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {p: ok for p in ("/s?m=1", "/a//b", "/c/../d", "/e/%2E/f", "/g/", "/h#frag")}}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    policy = {"gateway": {"listen": 8080}, "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9"}]}}, "apis": [{"name": "t", "spec": "s.json", "upstream": "u"}]}
    (tmp_path / "p.json").write_text(json.dumps(policy))
    warned = [d.message.split("'")[1] for d in compile_policy(tmp_path / "p.json").diagnostics.items if d.code == "unroutable-path"]
    assert warned == ["/s?m=1", "/a//b", "/c/../d", "/e/%2E/f"]


def test_an_api_without_operations_and_a_selector_shadowing_an_operation_id_are_warned(tmp_path) -> None:
    """Found by a hunt: both built silently."""
    import json

    from apigen.pipeline import compile_policy

    ok = {"responses": {"200": {"description": "ok"}}}
    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"operationId": "readA", **ok}}, "/b": {"get": {"operationId": "GET /a", **ok}}}}
    hooks = {"openapi": "3.1.0", "info": {"title": "h", "version": "1"}, "webhooks": {"ping": {"post": ok}}}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    (tmp_path / "h.json").write_text(json.dumps(hooks))
    policy = {
        "gateway": {"listen": 8080},
        "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9"}]}},
        "policies": {"h": {"kind": "headers", "response": {"set": {"X-A": "1"}}}},
        "apis": [
            {"name": "t", "spec": "s.json", "upstream": "u", "operations": {"GET /a": {"use": ["h"]}}},
            {"name": "hooks", "spec": "h.json", "upstream": "u", "base_path": "/hooks"},
        ],
    }
    (tmp_path / "p.json").write_text(json.dumps(policy))
    warnings = [(d.code, d.message) for d in compile_policy(tmp_path / "p.json").diagnostics.items if d.severity.value == "warning"]
    assert ("empty-api", "API 'hooks' has no operations: its document has no paths (webhooks and components alone are not served)") in warnings
    assert any("'GET /a' is read as `METHOD /path`" in m for _, m in warnings)


def test_spec_errors_in_sub_schemas_and_referenced_files_are_located(tmp_path) -> None:
    """Found by a hunt: errors the validator reports relative to a parameter's schema or to a
    $ref'd file were all placed at the root document's 1:1."""
    import pytest

    from apigen.diagnostics import CompileError
    from apigen.pipeline import compile_policy

    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "pet.yaml").write_text('Pet:\n  type: object\n  properties:\n    name: {type: string, maxLength: "sixty"}\n')
    (tmp_path / "openapi.yaml").write_text(
        'openapi: 3.0.3\ninfo: {title: t, version: "1"}\npaths:\n  /pets:\n    get:\n      operationId: listPets\n'
        '      parameters:\n        - name: limit\n          in: query\n          schema: {type: integer, maximum: "x"}\n'
        '      responses:\n        "200":\n          description: ok\n          content:\n            application/json:\n'
        '              schema: {$ref: "schemas/pet.yaml#/Pet"}\n'
    )
    (tmp_path / "policy.yaml").write_text('gateway: {listen: 8080}\nupstreams: {u: {servers: [{address: "127.0.0.1:9"}]}}\napis:\n  - {name: t, spec: openapi.yaml, upstream: u}\n')
    with pytest.raises(CompileError) as exc:
        compile_policy(tmp_path / "policy.yaml")
    where = {(str(e.position).rsplit("/", 1)[-1] if "/" in str(e.position) else str(e.position)) for e in exc.value.diagnostics.errors}
    assert {"openapi.yaml:10:44", "pet.yaml:4:37"} <= where, where
    assert not any(str(e.position).endswith(":1:1") for e in exc.value.diagnostics.errors)


def test_a_left_out_api_still_has_its_names_checked(tmp_path) -> None:
    """Found by a hunt: an API whose spec failed was left out whole, so its unknown upstream and
    policies were reported only after the spec was fixed."""
    import json

    import pytest

    from apigen.diagnostics import CompileError
    from apigen.pipeline import compile_policy

    (tmp_path / "s.json").write_text(json.dumps({"openapi": "3.0.3", "info": {"title": "t"}, "paths": {}}))
    policy = {"gateway": {"listen": 8080}, "upstreams": {"u": {"servers": [{"address": "127.0.0.1:9"}]}},
              "apis": [{"name": "t", "spec": "s.json", "upstream": "nope", "use": ["missing"]}]}
    (tmp_path / "p.json").write_text(json.dumps(policy))
    with pytest.raises(CompileError) as exc:
        compile_policy(tmp_path / "p.json")
    messages = [e.message for e in exc.value.diagnostics.errors]
    assert "unknown upstream 'nope'" in messages and "unknown policy 'missing'" in messages
    assert any("invalid OpenAPI" in m for m in messages)


def test_a_malformed_security_is_never_no_requirement() -> None:
    """A `security` mapping (not a list) was read as no requirement: the operation was public
    (found by a hunt, through a path item $ref the validator does not follow)."""
    from apigen.model.openapi import _security

    assert _security(None) == ()
    assert _security([]) == ()
    assert _security([{"key": []}, {}]) == ({"key": ()}, {})
    for bad in ({"key": []}, "key", [{"key": None}], ["key"], [{"key": "scope"}]):
        assert _security(bad) is None, bad


def test_base_paths_the_gateway_answers_400_are_refused_or_warned(tmp_path: Path) -> None:
    """Found by a hunt: a base path is percent-decoded like a spec path, but its encoded `/` or
    `\\` was not refused as a spec path's is: `/a%2Fb` was served as `/a/b` (the URLs as written
    got the path-confusion check's 400), and a backslash, raw or encoded, made every route of the
    API answer 400. A raw `;` is warned, as in a spec path (clients must send %3B)."""
    for written in ("/a%2Fb", "/a%5cb", "/x%2F"):
        (err,) = errors_of(tmp_path / "p", simple_policy(base_path=written), {"openapi.json": openapi({"/a": ops("get")})})
        assert str(err.position) == "policy.yaml:16:20", err.format()  # the base_path value
        assert f"is written {written!r}, with a backslash or an encoded slash" in err.message
    for url in ("https://x.example/a%2Fb", "https://x.example/a\\b", "/{v}"):
        doc = openapi({"/a": ops("get")}, servers=[{"url": url, "variables": {"v": {"default": "a%5Cb"}}}])
        (err,) = errors_of(tmp_path / "s", simple_policy(), {"openapi.json": doc})
        assert "with a backslash or an encoded slash" in err.message and err.position.file == "openapi.json"
    doc = openapi({"/a": ops("get")}, servers=[{"url": "/api;v=1"}])
    result = compile_case(tmp_path / "w", simple_policy(), {"openapi.json": doc})
    assert [(d.code, d.message.split(":")[0]) for d in result.diagnostics.warnings] == [
        ("unroutable-path", "base path '/api;v=1' has a raw `;`")
    ]
    result = compile_case(tmp_path / "w", simple_policy(base_path="/api;v=1"), {"openapi.json": openapi({"/a": ops("get")})})
    assert [d.code for d in result.diagnostics.warnings] == ["unroutable-path"]
    # Encoded, `;` is what nginx routes on: served, no warning.
    assert not compile_case(tmp_path / "w", simple_policy(base_path="/api%3Bv=1"), {"openapi.json": openapi({"/a": ops("get")})}).diagnostics.warnings


@pytest.mark.parametrize("version", ["2.0", "3.0.3", "3.1.0"])
def test_extensions_of_the_paths_object_are_valid_whatever_their_value(
    tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a hunt: openapi-spec-validator read every key of `paths` as a path item, so a
    valid `x-note: 1` there was "the validator failed ('x-note')" at 1:1, and an extension
    holding a `get` key was checked as an operation."""
    monkeypatch.setenv("APIGEN_NO_CACHE", "1")  # the validator runs, not a marker of an earlier pass
    paths = {"/a": ops("get"), "x-note": 1, "x-empty": None, "x-group": {"get": {"nonsense": True}}}
    doc = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": paths} if version == "2.0" else openapi(paths, version)
    result = compile_case(tmp_path, simple_policy(), {"openapi.json": doc})
    assert [o.operation_id for o in result.config.apis[0].operations] == ["get"]
