"""Requests built only from an OpenAPI document's own `example`/`examples`/`default`/`enum` values.

For each operation: path, required query and header parameters, and (if the operation has one) a
JSON body, all from values the document itself gives; an operation where a needed value has no
example is left out (never filled in with invented data).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from apigen.load.spec_loader import SpecSet
from apigen.model.types import Api, Operation
from apigen.plan.paths import PathTemplate, join_base
from apigen.validation.operation import is_json_media

NO = object()  # no example available


@dataclass
class ExampleRequest:
    op: Operation
    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None
    body_schema: tuple[Any, str] | None  # (schema, uri) the body was built for


def example_of(specs: SpecSet, schema: Any, uri: str, depth: int = 0) -> Any:
    if depth > 12 or not isinstance(schema, Mapping):
        return NO
    if "$ref" in schema:
        try:
            target, t_uri, _ = specs.resolve(schema["$ref"], uri)
        except (KeyError, ValueError):
            return NO
        return example_of(specs, target, t_uri, depth + 1)
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for sub in schema["allOf"]:
            part = example_of(specs, sub, uri, depth + 1)
            if part is NO:
                return NO
            if not isinstance(part, dict):
                return part
            merged.update(part)
        return merged if merged or "properties" not in schema else _object(specs, schema, uri, depth, merged)
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return example_of(specs, schema[key][0], uri, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return _object(specs, schema, uri, depth, {})
    if kind == "array" and "items" in schema:
        item = example_of(specs, schema["items"], uri, depth + 1)
        return NO if item is NO else [item]
    return NO


def _object(specs: SpecSet, schema: Mapping[str, Any], uri: str, depth: int, out: dict[str, Any]) -> Any:
    required = set(schema.get("required") or ())
    for name, sub in (schema.get("properties") or {}).items():
        if name in out:
            continue
        value = example_of(specs, sub, uri, depth + 1)
        if value is NO:
            if name in required:
                return NO
            continue
        out[name] = value
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def example_requests(api: Api) -> Iterator[ExampleRequest]:
    specs = api.specs
    assert specs is not None
    for op in api.operations:
        values: dict[tuple[str, str], Any] = {}
        complete = True
        for param in op.parameters:
            if param.location not in ("path", "query", "header"):
                continue
            raw = param.raw
            value = raw.get("example", NO)
            if value is NO and isinstance(raw.get("examples"), dict) and raw["examples"]:
                first = next(iter(raw["examples"].values()))
                value = first.get("value", NO) if isinstance(first, dict) else NO
            if value is NO:
                value = example_of(specs, param.schema, param.spec_uri or op.spec_uri)
            if value is NO or isinstance(value, (dict, list)) or value is None:
                if param.required:
                    complete = False
                continue
            values[(param.location, param.name)] = value
        if not complete:
            continue
        template = PathTemplate(join_base(api.base_path, op.route_path))
        path = "/" + "/".join(
            "".join(
                text if kind == "lit" else quote(_text(values[("path", text)]), safe="") for kind, text in seg.parts
            )
            for seg in template.segments
        )
        query = "&".join(
            f"{quote(n)}={quote(_text(v), safe='')}" for (loc, n), v in sorted(values.items()) if loc == "query"
        )
        headers = {
            n: _text(v)
            for (loc, n), v in values.items()
            if loc == "header" and n.lower() not in ("content-type", "accept", "authorization")
        }
        body = None
        body_schema = None
        body_param = next((p for p in op.parameters if p.location == "body"), None)
        if body_param is not None:  # Swagger 2.0
            value = example_of(specs, body_param.schema, body_param.spec_uri or op.spec_uri)
            if value is NO:
                continue
            body = json.dumps(value).encode()
            body_schema = (body_param.schema, body_param.spec_uri or op.spec_uri)
            headers["Content-Type"] = "application/json"
        request_body = op.raw.get("requestBody")
        if request_body is not None:
            request_body, rb_uri = specs.deref(request_body, op.spec_uri)
            content = request_body.get("content") or {}
            json_types = [m for m in content if is_json_media(m)]
            if not json_types:
                continue
            media = content[json_types[0]] or {}
            value = media.get("example", NO)
            if value is NO and isinstance(media.get("examples"), dict) and media["examples"]:
                first, _ = specs.deref(next(iter(media["examples"].values())), rb_uri)
                value = first.get("value", NO) if isinstance(first, dict) else NO
            if value is NO:
                value = example_of(specs, media.get("schema"), rb_uri)
            if value is NO:
                continue
            body = json.dumps(value).encode()
            body_schema = (media.get("schema"), rb_uri)
            headers["Content-Type"] = json_types[0].split(";")[0]
        yield ExampleRequest(op, op.method, path + (f"?{query}" if query else ""), headers, body, body_schema)
