"""What one operation accepts, read from its OpenAPI document: parameters and request body.

The result (:class:`OperationRules`) names compiled schema functions, so it is built with the
bundle's one :class:`SchemaCompiler`; :mod:`apigen.validation.module` prints it as JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apigen.model.types import Api, Operation
from apigen.plan.paths import PathTemplate, join_base, pcre_escape
from apigen.validation.compile_njs import SchemaCompiler, Unsupported

# OpenAPI: these header parameters are described elsewhere and are ignored.
IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
SCALARS = ("integer", "number", "boolean", "string")
# Separator of array values in one query/header/path value, by (style) or Swagger 2 collectionFormat.
SEPARATORS = {"form": ",", "simple": ",", "spaceDelimited": " ", "pipeDelimited": "|"}
COLLECTION_SEPARATORS = {"csv": ",", "ssv": " ", "tsv": "\t", "pipes": "|"}
FORM_MEDIA = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class ParamRule:
    location: str  # path | query | header | cookie
    name: str
    required: bool
    scalar: str  # how the text is converted before the schema check: integer|number|boolean|string
    array: bool
    separator: str | None  # None: one array item per repeated query key (exploded form)
    function: str  # compiled schema function
    prefix: str = ""  # before the value: "." for a `style: label` path parameter
    # Query parameters: is an empty value (`?q=`, `?q`) accepted as such, unchecked
    # (``allowEmptyValue: true``), or refused (the default, false)? None: other locations, where
    # an empty value is checked like any other (Swagger 2.0 form fields are not parameters here).
    allow_empty: bool | None = None


@dataclass(frozen=True)
class BodyRule:
    required: bool
    media_types: tuple[str, ...]  # declared, lower case
    json_functions: tuple[tuple[str, str], ...]  # (media type, schema function) of JSON media types


@dataclass(frozen=True)
class OperationRules:
    key: str  # "<api>.<operationId>"
    path_regex: str  # on the raw request path, one group per path parameter
    path_names: tuple[str, ...]
    params: tuple[ParamRule, ...]
    body: BodyRule | None


def is_json_media(media: str) -> bool:
    media = media.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.endswith("+json") and "*" not in media)


def path_capture_regex(template: PathTemplate) -> str:
    segments = []
    for seg in template.segments:
        segments.append("".join(pcre_escape(text) if kind == "lit" else "([^/]*)" for kind, text in seg.parts))
    return "^/" + "/".join(segments) + "$"


class RulesBuilder:
    def __init__(self, compiler: SchemaCompiler) -> None:
        self.compiler = compiler

    def unsupported(self, uri: str, pointer: str, what: str) -> None:
        self.compiler.unsupported.append(Unsupported(uri, pointer, what))

    def build(self, api: Api, op: Operation) -> OperationRules:
        specs = api.specs
        assert specs is not None, "Api.specs is set by the model builder"
        self.compiler.resolve = specs.resolve
        # OpenAPI 3.1 schemas are JSON Schema 2020-12, where `nullable` means nothing (found by
        # a hunt: {type: string, nullable: true} accepted null in a 3.1 document).
        self.compiler.nullable = not str(api.spec_version).startswith("3.1")
        op_pointer = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in op.spec_path)
        template = PathTemplate(join_base(api.base_path, op.route_path))
        params = []
        body_param = None
        for param in sorted(op.parameters, key=lambda p: (p.location, p.name)):
            if param.location == "body":
                body_param = param
                continue
            if param.location == "formData":
                continue  # form bodies: only the media type is checked (see _body)
            if param.location == "header" and param.name.lower() in IGNORED_HEADERS:
                continue
            rule = self._param(param, api, op, op_pointer)
            if rule is not None:
                params.append(rule)
        return OperationRules(
            key=op.key,
            path_regex=path_capture_regex(template),
            path_names=template.param_names,
            params=tuple(params),
            body=self._body(api, op, op_pointer, body_param),
        )

    def _param(self, param: Any, api: Api, op: Operation, op_pointer: str) -> ParamRule | None:
        specs = api.specs
        uri = param.spec_uri or op.spec_uri
        where = f"{op_pointer}/parameters"
        if "content" in param.raw:
            self.unsupported(uri, where, f"parameter {param.name!r} with `content` (not validated)")
            return None
        schema, s_uri = _deref(specs, param.schema, uri)

        def deref(sub: Any) -> Any:  # `allOf: [{$ref}]` branches (a hunt: read as strings)
            return _deref(specs, sub, s_uri)[0]

        kind = _type_of(schema, deref)
        array = kind == "array"
        kinds = _types_of(schema, deref)
        if array:
            items, _ = _deref(specs, schema.get("items") or {}, s_uri)
            kinds = _types_of(items, deref)
        if "object" in kinds or kind == "object":
            self.unsupported(uri, where, f"object parameter {param.name!r} (style {param.raw.get('style', 'default')})")
            return None
        # The text is converted before the schema check: to the first type it reads as, so that
        # `oneOf: [integer, {enum: [all]}]` takes both 5 and `all` (found by a hunt: `all` got
        # "expected integer").
        scalar = "|".join(k for k in SCALARS if k in kinds) or "string"
        separator: str | None = ","
        # `style: label` path values are `.5`, `.a,b` or (exploded) `.a.b`: it was read as
        # `simple`, and the form the spec defines got "expected integer" (found by a hunt).
        label = param.location == "path" and param.raw.get("style") == "label"
        if label:
            separator = "." if param.raw.get("explode", False) else ","
        elif array:
            style = param.raw.get("style")
            fmt = param.raw.get("collectionFormat")
            if fmt is None and str(specs.root.get("swagger", "")).startswith("2"):
                fmt = "csv"  # Swagger 2.0's default (was read as OpenAPI 3's exploded form; a hunt)
            if fmt is not None:  # Swagger 2.0
                separator = None if fmt == "multi" else COLLECTION_SEPARATORS.get(fmt, ",")
            else:
                style = style or ("form" if param.location in ("query", "cookie") else "simple")
                explode = param.raw.get("explode", style == "form")
                if style not in SEPARATORS:
                    self.unsupported(uri, where, f"style {style!r} of parameter {param.name!r}")
                    return None
                separator = None if (explode and param.location == "query") else SEPARATORS[style]
        function = self.compiler.compile(param.schema, uri, where)
        allow_empty = bool(param.raw.get("allowEmptyValue", False)) if param.location == "query" else None
        return ParamRule(param.location, param.name, param.required, scalar, array, separator, function, "." if label else "", allow_empty)

    def _body(self, api: Api, op: Operation, op_pointer: str, body_param: Any) -> BodyRule | None:
        specs = api.specs
        if body_param is not None or _form_params(op):  # Swagger 2.0
            # Without `consumes` the document names no media type: form parameters are a form
            # (urlencoded or multipart), and a body is checked as JSON when sent as JSON, any other
            # type passing. (A JSON-only default refused every form post; found by a hunt.)
            default = FORM_MEDIA if body_param is None else ("application/json", "*/*")
            consumes = op.raw.get("consumes") or specs.root.get("consumes") or default
            media = tuple(sorted({str(m).split(";")[0].strip().lower() for m in consumes}))
            functions = ()
            if body_param is not None:
                fn = self.compiler.compile(
                    body_param.schema, body_param.spec_uri or op.spec_uri, f"{op_pointer}/parameters/body"
                )
                functions = tuple((m, fn) for m in media if is_json_media(m))
            if body_param is not None:
                required = bool(body_param.required)
            else:  # a required form field needs a form
                required = any(p.required for p in op.parameters if p.location == "formData")
            return BodyRule(required, media, functions)
        raw = op.raw.get("requestBody")
        if raw is None:
            return None
        body, uri = _deref(specs, raw, op.spec_uri)
        if not isinstance(body, dict):
            return None
        content = body.get("content") or {}
        media = tuple(sorted({str(m).split(";")[0].strip().lower() for m in content}))
        functions = []
        for name in sorted(content):
            entry = content[name] or {}
            if "*" in name and isinstance(entry, dict) and entry.get("schema"):
                # A schema under a media range was never applied, without a word (found by a hunt).
                pointer = f"{op_pointer}/requestBody/content/{name.replace('~', '~0').replace('/', '~1')}"
                self.compiler.unsupported.append(
                    Unsupported(uri, pointer, f"the schema of media range {name}", True)
                )
            if is_json_media(name) and "schema" in entry:
                pointer = f"{op_pointer}/requestBody/content/{name.replace('~', '~0').replace('/', '~1')}/schema"
                functions.append(
                    (name.split(";")[0].strip().lower(), self.compiler.compile(entry["schema"], uri, pointer))
                )
        return BodyRule(bool(body.get("required", False)), media, tuple(functions))


def _form_params(op: Operation) -> bool:
    return any(p.location == "formData" for p in op.parameters)


def _deref(specs: Any, schema: Any, uri: str) -> tuple[Any, str]:
    try:
        return specs.deref(schema, uri)
    except (KeyError, ValueError):
        return {}, uri


def _same(schema: Any) -> Any:
    return schema


def _types_of(schema: Any, deref: Any = _same, depth: int = 0) -> list[str]:
    """Every type a parameter value may have: the schema's `type` (list), or the types of the
    branches of its oneOf/anyOf (allOf: the first typed branch decides, as in _type_of)."""
    if isinstance(schema, Mapping) and depth < 8:
        kind = schema.get("type")
        if isinstance(kind, list):
            return [str(k) for k in kind if k != "null"] or ["string"]
        if kind is None:
            branches = [deref(sub) for c in ("oneOf", "anyOf") for sub in schema.get(c) or ()]
            branches = [sub for sub in branches if isinstance(sub, Mapping)]
            found = [t for sub in branches for t in _types_of(sub, deref, depth + 1)]
            if branches and all(isinstance(sub.get("type"), (str, list)) or sub.get("enum") for sub in branches):
                return list(dict.fromkeys(found))
    return [_type_of(schema, deref)]


def _type_of(schema: Any, deref: Any = _same) -> str:
    if not isinstance(schema, Mapping):
        return "string"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None:
        for combinator in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(combinator) or ():
                sub = deref(sub)
                if isinstance(sub, Mapping) and isinstance(sub.get("type"), str):
                    return sub["type"]
        if "properties" in schema:
            return "object"
        return "string"
    return str(kind)
