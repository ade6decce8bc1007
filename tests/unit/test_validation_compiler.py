"""The schema-to-njs compiler: a table of schemas with valid and invalid values (run in njs), the
keywords it refuses, and deterministic output."""

from __future__ import annotations

from typing import Any

import pytest

from apigen.validation.compile_njs import SchemaCompiler
from tests.support.njs import compile_schema, requires_njs_cli, run_validator

PET = {
    "type": "object",
    "required": ["name", "id"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "format": "int32", "minimum": 1},
        "name": {"type": "string", "minLength": 1, "maxLength": 3},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 2, "uniqueItems": True},
        "born": {"type": "string", "format": "date-time"},
        "chip": {"type": "string", "format": "uuid"},
        "owner": {"type": "string", "format": "email"},
        "day": {"type": "string", "format": "date"},
    },
}

# (schema, value, expected violations)
CASES: list[tuple[Any, Any, list[str]]] = [
    ({"type": "string"}, "x", []),
    ({"type": "string"}, 1, [": expected string"]),
    ({"type": "integer"}, 1.0, []),
    ({"type": "integer"}, 1.5, [": expected integer"]),
    ({"type": "number"}, True, [": expected number"]),
    ({"type": ["string", "null"]}, None, []),
    ({"type": "string", "nullable": True}, None, []),
    ({"type": "string", "nullable": True}, 3, [": expected null or string"]),
    ({"enum": [1, "a", None]}, 1.0, []),
    ({"enum": [1, "a"]}, True, [': expected one of [1, "a"]']),
    ({"const": {"a": [1]}}, {"a": [1]}, []),
    ({"const": {"a": [1]}}, {"a": [2]}, [': expected {"a": [1]}']),
    ({"type": "string", "pattern": "^[a-z]+$"}, "abc", []),
    ({"type": "string", "pattern": "^[a-z]+$"}, "ab1", [": does not match ^[a-z]+$"]),
    ({"maxLength": 2}, "\U0001f600\U0001f600", []),  # code points, not UTF-16 units
    ({"maxLength": 2}, 12345, []),  # string keywords ignore other types
    ({"minimum": 2, "exclusiveMinimum": True}, 2, [": must be > 2"]),  # OpenAPI 3.0 flag
    ({"exclusiveMaximum": 2}, 2, [": must be < 2"]),  # JSON Schema 2020-12 number
    ({"maximum": 2}, 2, []),
    ({"multipleOf": 0.1}, 0.3, []),
    ({"multipleOf": 3}, 7, [": not a multiple of 3"]),
    ({"format": "int32"}, 2147483648, [": out of int32 range"]),
    (PET, {"id": 1, "name": "Tom"}, []),
    (
        PET,
        {"id": 0, "name": "", "tags": ["a", "a", "c"], "x": 1},
        [
            "/id: must be >= 1",
            "/name: shorter than 1 characters",
            "/tags: more than 2 items",
            "/tags: items are not unique",
            '/tags/2: expected one of ["a", "b"]',
            "/x: unknown property",
        ],
    ),
    (PET, [], [": expected object"]),
    (PET, {"id": 1, "name": "a", "born": "2024-02-29T23:59:60.5+01:00"}, []),
    (PET, {"id": 1, "name": "a", "born": "2023-02-29T10:00:00Z"}, ["/born: not a valid date-time"]),
    (PET, {"id": 1, "name": "a", "born": "2023-01-01 10:00:00"}, ["/born: not a valid date-time"]),
    (PET, {"id": 1, "name": "a", "chip": "123e4567-e89b-12d3-a456-426614174000"}, []),
    (PET, {"id": 1, "name": "a", "chip": "123e4567e89b12d3a456426614174000"}, ["/chip: not a valid uuid"]),
    (PET, {"id": 1, "name": "a", "owner": "a@b.c"}, []),
    (PET, {"id": 1, "name": "a", "owner": "ab.c"}, ["/owner: not a valid email"]),
    (PET, {"id": 1, "name": "a", "day": "2024-13-01"}, ["/day: not a valid date"]),
    ({"properties": {"a/b~": {"type": "string"}}}, {"a/b~": 1}, ["/a~1b~0: expected string"]),
    ({"properties": {"constructor": {"type": "string"}}}, {"toString": 1, "constructor": "x"}, []),
    (
        {"additionalProperties": {"type": "integer"}, "properties": {"a": {}}},
        {"a": "x", "b": "y"},
        ["/b: expected integer"],
    ),
    (
        {"patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False},
        {"x-a": 1, "y": 1},
        ["/y: unknown property"],
    ),
    ({"propertyNames": {"maxLength": 2}}, {"abc": 1}, ["/abc: longer than 2 characters"]),
    ({"minProperties": 1}, {}, [": fewer than 1 properties"]),
    ({"allOf": [{"required": ["a"]}, {"required": ["b"]}]}, {}, ["/a: required", "/b: required"]),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1, []),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1.5, [": matches none of anyOf"]),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1, [": matches more than one of oneOf"]),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1.5, []),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, "1", [": matches none of oneOf"]),
    ({"not": {"type": "string"}}, "x", [": must not match the schema in not"]),
    ({"if": {"minimum": 10}, "then": {"multipleOf": 10}, "else": {"maximum": 5}}, 20, []),
    ({"if": {"minimum": 10}, "then": {"multipleOf": 10}, "else": {"maximum": 5}}, 15, [": not a multiple of 10"]),
    ({"if": {"minimum": 10}, "then": {"multipleOf": 10}, "else": {"maximum": 5}}, 7, [": must be <= 5"]),
    (True, {"anything": 1}, []),
    (False, 1, [": no value is allowed here"]),
    ({"items": False}, [], []),
    ({"items": False}, [1], ["/0: no value is allowed here"]),
    # OpenAPI: `required` does not apply to readOnly properties in requests.
    ({"required": ["id", "n"], "properties": {"id": {"readOnly": True}}}, {"n": 1}, []),
    ({"required": ["id", "n"], "properties": {"id": {"readOnly": True}}}, {"id": 1}, ["/n: required"]),
    ({"description": "annotations only", "example": 3, "x-vendor": 1}, "x", []),
    ({"type": "string", "pattern": "(unclosed"}, "x", [": does not match (unclosed"]),  # fail closed
]


@requires_njs_cli
def test_table_of_schemas_and_values() -> None:
    # Grouped into one njs run per schema to stay fast.
    results = {}
    for index, (schema, value, _) in enumerate(CASES):
        results[index] = run_validator(schema, [value])[0]
    failures = [(CASES[i][0], CASES[i][1], CASES[i][2], got) for i, got in results.items() if got != CASES[i][2]]
    assert not failures, "\n".join(map(repr, failures))


@requires_njs_cli
def test_refs_and_recursion() -> None:
    doc = {
        "Node": {
            "type": "object",
            "required": ["v"],
            "properties": {"v": {"type": "integer"}, "next": {"$ref": "#/Node"}},
        },
    }

    def resolve(ref: str, uri: str):
        return doc[ref.split("/")[-1]], uri, "/" + ref.split("/")[-1]

    values = [{"v": 1, "next": {"v": 2, "next": {"v": 3}}}, {"v": 1, "next": {"next": {"v": "x"}}}]
    assert run_validator({"$ref": "#/Node"}, values, resolve=resolve) == [
        [],
        ["/next/v: required", "/next/next/v: expected integer"],
    ]


@requires_njs_cli
def test_violations_are_bounded() -> None:
    errors = run_validator({"type": "array", "items": {"type": "string"}}, [list(range(50))], max_errors=3)[0]
    assert errors == ["/0: expected string", "/1: expected string", "/2: expected string"]


@pytest.mark.parametrize(
    ("schema", "keyword"),
    [
        ({"type": "array", "contains": {"type": "string"}}, "contains"),
        ({"prefixItems": [{"type": "string"}]}, "prefixItems"),
        ({"dependentRequired": {"a": ["b"]}}, "dependentRequired"),
        ({"properties": {"a": {"unevaluatedProperties": False}}}, "unevaluatedProperties"),
        ({"items": [{"type": "string"}]}, "items (array form)"),
        ({"$ref": "#/missing"}, "$ref #/missing (unresolvable)"),
    ],
)
def test_unsupported_keywords_are_reported(schema: Any, keyword: str) -> None:
    compiler, _ = compile_schema(schema)
    assert [u.keyword for u in compiler.unsupported] == [keyword]


def test_output_is_deterministic_and_shares_refs() -> None:
    doc = {"A": {"type": "string"}}

    def resolve(ref: str, uri: str):
        return doc["A"], uri, "/A"

    def build() -> str:
        compiler = SchemaCompiler(resolve)
        first = compiler.compile({"properties": {"x": {"$ref": "#/A"}, "y": {"$ref": "#/A"}}}, "file:///d.json", "")
        second = compiler.compile({"$ref": "#/A"}, "file:///d.json", "/other")
        return f"{first} {second}\n" + compiler.source()

    text = build()
    assert text == build()
    assert text.count("// d.json#/A\n") == 1  # one function for the shared target
    assert text.startswith("0 1\n")


def test_comments_cannot_break_out_of_a_line() -> None:
    compiler, _ = compile_schema({"properties": {"a\nfunction evil() {}": {"type": "string"}}})
    assert "\nfunction evil" not in compiler.source()


@requires_njs_cli
def test_unresolvable_ref_text_stays_in_its_comment() -> None:
    # The $ref text is quoted in the comment heading the function that always fails: a line
    # break in it once ended the comment and let the spec write JavaScript (found by a hunt: the
    # injected `return` replaced every validator, and invalid bodies reached the upstream).
    ref = "#/components/schemas/Nope\nreturn [function () {}, function () {}];\n//"
    compiler, _ = compile_schema({"type": "object", "properties": {"a": {"$ref": ref}}})
    assert "\nreturn [function" not in compiler.source()
    assert run_validator({"type": "object", "properties": {"a": {"$ref": ref}}}, ["not an object", {"a": 1}]) == [
        [": expected object"],
        [f"/a: unresolvable $ref {ref}"],
    ]
