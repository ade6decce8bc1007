"""A JSON Schema to njs compiler: one readable JavaScript function per schema node.

njs 0.7.9 has no libraries, so every schema the gateway checks is turned into plain code at build
time. ``check(n, x, p, e)`` runs the checks of schema number ``n`` on the value ``x`` found at
JSON pointer ``p`` and appends ``"<pointer>: <problem>"`` strings to the array ``e`` (``add``
stops at ``e.max`` entries). The output is deterministic: schemas are numbered in the order they
are first reached, and ``$ref`` targets are compiled once (which also makes recursive schemas work).

Each schema is a function, but not a top-level one: njs 0.7.9 copies every top-level value of a
module into each request's VM, so a few thousand schema functions made every request (validated
or not) ten times slower, and about two thousand top-level declarations overflow its 64 KiB stack
when the module loads. They are nested in group factories of 64 that ``check`` calls on first use
in a request. (One big ``switch`` instead of functions gives huge frames, and the same stack then
allows only a few levels of recursion.)

Semantics follow JSON Schema 2020-12 / OpenAPI 3.1, plus OpenAPI 3.0's ``nullable`` and boolean
``exclusiveMinimum``/``exclusiveMaximum``. Keywords that cannot be checked are collected in
``unsupported`` (never silently accepted); the caller reports them as diagnostics.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Keywords that never change a verdict (annotations, containers, vendor extensions).
ANNOTATIONS = frozenset(
    {
        "title", "description", "example", "examples", "default", "deprecated", "readOnly",
        "writeOnly", "xml", "externalDocs", "discriminator", "$comment", "$schema", "$id",
        "$anchor", "$defs", "definitions", "contentMediaType", "contentEncoding", "nullable",
    }
)  # fmt: skip
SUPPORTED = frozenset(
    {
        "$ref", "type", "enum", "const", "format",
        "minLength", "maxLength", "pattern",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "items", "minItems", "maxItems", "uniqueItems",
        "properties", "required", "additionalProperties", "patternProperties",
        "minProperties", "maxProperties", "propertyNames",
        "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    }
)  # fmt: skip
# Formats checked at run time; any other format is an annotation (as in JSON Schema 2020-12).
FORMATS = ("date-time", "date", "uuid", "email", "int32", "int64", "ipv4")

GROUP = 64  # schema functions per group factory (a power of two)

# A resolver turns ($ref, base uri) into (schema, uri, pointer); it raises KeyError/ValueError.
Resolver = Callable[[str, str], tuple[Any, str, str]]


@dataclass(frozen=True)
class Unsupported:
    uri: str
    pointer: str  # JSON pointer of the schema holding the keyword
    keyword: str
    always_warning: bool = False  # reported as a warning whatever `unsupported_keywords` says


@dataclass
class SchemaCompiler:
    """Compiles schemas into one shared set of functions. Call :meth:`compile` per root schema,
    then :meth:`source` once for the JavaScript text."""

    resolve: Resolver
    functions: list[tuple[str, str]] = field(default_factory=list)  # (source comment, case body)
    unsupported: list[Unsupported] = field(default_factory=list)
    # Compiled schemas, by place and by object; with the readOnly names of the allOf they are
    # compiled for, which change their `required` (a schema compiled for one allOf was reused
    # for another, or alone; found by a review).
    # And with the document version's `nullable` reading: a schema shared by a 3.0 and a 3.1 API
    # got the semantics of the API compiled first (a hunt).
    _by_ref: dict[tuple[str, str, frozenset[str], bool], str] = field(default_factory=dict)
    _by_id: dict[tuple[int, frozenset[str], bool], str] = field(default_factory=dict)
    # OpenAPI 3.0's `nullable: true` allows null; in 3.1 documents the keyword means nothing.
    nullable: bool = True
    # readOnly properties of the allOf whose branch is being compiled (for that branch only).
    _sibling_read_only: frozenset[str] = frozenset()

    def compile(self, schema: Any, uri: str, pointer: str) -> str:
        """Name of the function checking ``schema`` (found at ``uri#pointer``)."""
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and len(schema) == 1:
            return self._ref(schema["$ref"], uri, pointer)
        key = (id(schema), self._sibling_read_only, self.nullable)
        if isinstance(schema, dict) and key in self._by_id:  # the same node reached again
            return self._by_id[key]
        index = len(self.functions)
        name = str(index)
        if isinstance(schema, dict):
            self._by_id[key] = name
        self.functions.append(("", ""))  # reserve the slot: nested schemas get later numbers
        self.functions[index] = self._function(schema, uri, pointer)
        return name

    def _ref(self, ref: str, uri: str, pointer: str) -> str:
        try:
            target, t_uri, t_pointer = self.resolve(ref, uri)
        except (KeyError, ValueError):
            self.unsupported.append(Unsupported(uri, pointer, f"$ref {ref} (unresolvable)"))
            return self._never(f"unresolvable $ref {ref}")
        key = (t_uri, t_pointer, self._sibling_read_only, self.nullable)
        if key not in self._by_ref:
            index = len(self.functions)
            self._by_ref[key] = str(index)
            self.functions.append(("", ""))
            self.functions[index] = self._function(target, t_uri, t_pointer)
        return self._by_ref[key]

    def _never(self, why: str) -> str:
        # `why` quotes the spec ($ref text): the head is a // comment, so printable only.
        self.functions.append((_comment(why), f"add(e, p, {js(why)});"))
        return str(len(self.functions) - 1)

    def _function(self, schema: Any, uri: str, pointer: str) -> tuple[str, str]:
        head = _comment(uri.rsplit("/", 1)[-1] + "#" + pointer)
        sibling_read_only, self._sibling_read_only = self._sibling_read_only, frozenset()
        if schema is True or (isinstance(schema, dict) and not set(schema) - ANNOTATIONS - {"nullable"}):
            return head, ""
        if schema is False:
            return head, 'add(e, p, "no value is allowed here");'
        if not isinstance(schema, dict):
            self.unsupported.append(Unsupported(uri, pointer, "schema that is not an object"))
            return head, 'add(e, p, "schema cannot be checked");'
        lines: list[str] = []
        for key in sorted(schema):
            if key not in SUPPORTED and key not in ANNOTATIONS and not key.startswith("x-"):
                self.unsupported.append(Unsupported(uri, pointer, key))
        if self._nullable(schema):
            lines.append("if (x === null) return;")
        lines += self._type(schema)
        lines += self._generic(schema, uri, pointer)
        lines += self._string(schema)
        lines += self._number(schema, uri, pointer)
        lines += self._array(schema, uri, pointer)
        lines += self._object(schema, uri, pointer, sibling_read_only)
        return head, "\n".join(lines)

    # --- keyword groups --------------------------------------------------------------------

    def _type(self, schema: Mapping[str, Any]) -> list[str]:
        types = schema.get("type")
        if types is None:
            return []
        wanted = {types} if isinstance(types, str) else set(types)
        if self._nullable(schema):
            wanted.add("null")
        wanted = sorted(wanted)
        test = " && ".join(f"!is(x, {js(t)})" for t in wanted)
        return [f"if ({test}) {{ add(e, p, {js('expected ' + ' or '.join(wanted))}); return; }}"]

    def _generic(self, schema: Mapping[str, Any], uri: str, pointer: str) -> list[str]:
        out: list[str] = []
        if "enum" in schema and isinstance(schema["enum"], list):
            values = list(schema["enum"])
            if self._nullable(schema) and None not in values:
                values.append(None)
            out.append(f"if (!oneOfValues(x, {js(values)})) add(e, p, {js('expected one of ' + json.dumps(values))});")
        if "const" in schema:
            out.append(
                f"if (!eq(x, {js(schema['const'])})) add(e, p, {js('expected ' + json.dumps(schema['const']))});"
            )
        if "$ref" in schema:
            out.append(f"check({self._ref(schema['$ref'], uri, pointer)}, x, p, e);")
        # `required` in one allOf branch for a property another branch declares readOnly (a base
        # schema plus `{required: [id, name]}`): not required in requests either (found by a hunt).
        read_only = self._read_only_names(schema, uri) if schema.get("allOf") else set()
        for index, sub in enumerate(schema.get("allOf") or ()):
            self._sibling_read_only = frozenset(read_only)
            try:
                out.append(f"check({self.compile(sub, uri, f'{pointer}/allOf/{index}')}, x, p, e);")
            finally:
                self._sibling_read_only = frozenset()
        combined: dict[str, list[str]] = {"anyOf": [], "oneOf": []}
        if isinstance(schema.get("anyOf"), list):
            names = [self.compile(s, uri, f"{pointer}/anyOf/{i}") for i, s in enumerate(schema["anyOf"])]
            combined["anyOf"].append(f'if (countValid(x, p, [{", ".join(names)}], 1) < 1) add(e, p, "matches none of anyOf");')
        if isinstance(schema.get("oneOf"), list):
            names = [self.compile(s, uri, f"{pointer}/oneOf/{i}") for i, s in enumerate(schema["oneOf"])]
            combined["oneOf"].append(f"var n = countValid(x, p, [{', '.join(names)}], 2);")
            combined["oneOf"].append('if (n !== 1) add(e, p, n ? "matches more than one of oneOf" : "matches none of oneOf");')
        chosen = self._discriminator(schema, uri, pointer)
        if chosen:
            # Only the combinator the discriminator sits on is replaced for objects: a sibling
            # anyOf was skipped too (a hunt).
            discriminated = "oneOf" if isinstance(schema.get("oneOf"), list) else "anyOf"
            out += combined["anyOf" if discriminated == "oneOf" else "oneOf"]
            combined = {discriminated: combined[discriminated]}
        combined_lines = [line for lines in combined.values() for line in lines]
        if chosen:
            # OpenAPI's discriminator: an object is checked against the schema its property names
            # (the spec's own Cat/Dog example matched both branches of its oneOf: 400; found by
            # a hunt); other values go through the oneOf/anyOf as JSON Schema says.
            prop, table = chosen
            q = js("/" + _esc(prop))
            out.append(
                f'if (is(x, "object")) {{ var d = x[{js(prop)}], t = {js(table)};'
                f' if (!has(x, {js(prop)})) add(e, p + {q}, "required");'
                f' else if (typeof d !== "string" || !has(t, d)) add(e, p + {q}, {js("expected one of " + json.dumps(sorted(table)))});'
                " else check(t[d], x, p, e); }"
            )
            if combined_lines:
                out.append(f"else {{ {' '.join(combined_lines)} }}")
        else:
            out += combined_lines
        if "not" in schema:
            out.append(
                f'if (countValid(x, p, [{self.compile(schema["not"], uri, pointer + "/not")}], 1)) add(e, p, "must not match the schema in not");'
            )
        if "if" in schema:
            cond = self.compile(schema["if"], uri, pointer + "/if")
            then = self.compile(schema["then"], uri, pointer + "/then") if "then" in schema else None
            other = self.compile(schema["else"], uri, pointer + "/else") if "else" in schema else None
            if then or other:
                out.append(
                    f"if (countValid(x, p, [{cond}], 1)) {{ {f'check({then}, x, p, e);' if then else ''} }}"
                    f" else {{ {f'check({other}, x, p, e);' if other else ''} }}"
                )
        return out

    def _string(self, schema: Mapping[str, Any]) -> list[str]:
        checks = _counts(
            schema, "ulen(x)", ("minLength", "shorter than {} characters"), ("maxLength", "longer than {} characters")
        )
        if isinstance(schema.get("pattern"), str):
            pattern = schema["pattern"]
            checks.append(f"if (!match({js(ecma_pattern(pattern))}, x)) add(e, p, {js('does not match ' + pattern)});")
        fmt = schema.get("format")
        if fmt in FORMATS and fmt not in ("int32", "int64"):
            checks.append(f"if (!FORMAT[{js(fmt)}](x)) add(e, p, {js('not a valid ' + fmt)});")
        return [f'if (typeof x === "string") {{ {" ".join(checks)} }}'] if checks else []

    def _number(self, schema: Mapping[str, Any], uri: str, pointer: str) -> list[str]:
        checks: list[str] = []
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            value = schema.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                # YAML's .inf/.nan: no JSON number (it became the JavaScript name `inf`, a 500 on
                # every request; found by a hunt).
                self.unsupported.append(Unsupported(uri, pointer, f"{key} (not a finite number)"))
        for key, op in (("minimum", "<"), ("maximum", ">")):
            value = schema.get(key)
            if _is_num(value):
                flag = schema.get("exclusiveMinimum" if key == "minimum" else "exclusiveMaximum")
                bound = {"<": ">", ">": "<"}[op]
                if flag is True:  # OpenAPI 3.0: exclusiveMinimum/Maximum is a flag on minimum/maximum
                    checks.append(f"if (x {op}= {js(value)}) add(e, p, {js(f'must be {bound} {value}')});")
                else:
                    checks.append(f"if (x {op} {js(value)}) add(e, p, {js(f'must be {bound}= {value}')});")
        for key, op in (("exclusiveMinimum", "<="), ("exclusiveMaximum", ">=")):
            value = schema.get(key)
            if _is_num(value):
                bound = ">" if op == "<=" else "<"
                checks.append(f"if (x {op} {js(value)}) add(e, p, {js(f'must be {bound} {value}')});")
        if _is_num(schema.get("multipleOf")) and schema["multipleOf"] > 0:
            v = schema["multipleOf"]
            checks.append(f"if (!multipleOf(x, {js(v)})) add(e, p, {js(f'not a multiple of {v}')});")
        fmt = schema.get("format")
        if fmt == "int32":
            checks.append('if (x < -2147483648 || x > 2147483647) add(e, p, "out of int32 range");')
        if fmt == "int64":
            checks.append('if (x < -9223372036854775808 || x > 9223372036854775807) add(e, p, "out of int64 range");')
        return [f'if (typeof x === "number") {{ {" ".join(checks)} }}'] if checks else []

    def _array(self, schema: Mapping[str, Any], uri: str, pointer: str) -> list[str]:
        checks = _counts(schema, "x.length", ("minItems", "fewer than {} items"), ("maxItems", "more than {} items"))
        if schema.get("uniqueItems") is True:
            checks.append('if (!unique(x)) add(e, p, "items are not unique");')
        items = schema.get("items")
        if isinstance(items, (dict, bool)):
            fn = self.compile(items, uri, pointer + "/items")
            checks.append(f'for (var i = 0; i < x.length && e.length < e.max; i++) check({fn}, x[i], p + "/" + i, e);')
        elif isinstance(items, list):
            self.unsupported.append(Unsupported(uri, pointer, "items (array form)"))
        return [f"if (Array.isArray(x)) {{ {' '.join(checks)} }}"] if checks else []

    def _object(self, schema: Mapping[str, Any], uri: str, pointer: str, sibling_read_only: frozenset[str]) -> list[str]:
        checks: list[str] = []
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        # OpenAPI: a readOnly property is only sent in responses; `required` does not apply to
        # requests for it.
        required = [
            r
            for r in schema.get("required") or ()
            if isinstance(r, str) and not self._read_only(props.get(r), uri) and r not in sibling_read_only
        ]
        if required and schema.get("allOf"):
            # readOnly declared in a $ref'd allOf base, `required` beside the allOf (the usual
            # NewPet; found by a hunt).
            own = self._read_only_names(schema, uri)
            required = [r for r in required if r not in own]
        if required:
            checks.append(
                f"var req = {js(sorted(set(required)))};"
                ' for (var r = 0; r < req.length; r++) if (!has(x, req[r])) add(e, p + "/" + esc(req[r]), "required");'
            )
        checks += _counts(
            schema,
            "Object.keys(x).length",
            ("minProperties", "fewer than {} properties"),
            ("maxProperties", "more than {} properties"),
        )
        prop_fns = {k: self.compile(v, uri, f"{pointer}/properties/{_esc(k)}") for k, v in sorted(props.items())}
        pattern_fns = []
        for pat, sub in sorted((schema.get("patternProperties") or {}).items()):
            pattern_fns.append((js(ecma_pattern(pat)), self.compile(sub, uri, f"{pointer}/patternProperties/{_esc(pat)}")))
        additional = schema.get("additionalProperties", True)
        extra_fn = None
        if isinstance(additional, dict):
            extra_fn = self.compile(additional, uri, pointer + "/additionalProperties")
        names_fn = None
        if "propertyNames" in schema:
            names_fn = self.compile(schema["propertyNames"], uri, pointer + "/propertyNames")
        if prop_fns or pattern_fns or additional is not True or names_fn:
            body = ['var k = keys[j], v = x[k], q = p + "/" + esc(k), known = false;']
            if names_fn:
                body.append(f"check({names_fn}, k, q, e);")
            if prop_fns:
                cases = " ".join(f"case {js(k)}: f = {fn}; break;" for k, fn in sorted(prop_fns.items()))
                body.append(f"var f = -1; switch (k) {{ {cases} }} if (f >= 0) {{ known = true; check(f, v, q, e); }}")
            for pid, fn in pattern_fns:
                body.append(f"if (match({pid}, k)) {{ known = true; check({fn}, v, q, e); }}")
            if additional is False:
                body.append('if (!known) add(e, q, "unknown property");')
            elif extra_fn:
                body.append(f"if (!known) check({extra_fn}, v, q, e);")
            checks.append(
                "var keys = Object.keys(x).sort();"
                " for (var j = 0; j < keys.length && e.length < e.max; j++) { " + " ".join(body) + " }"
            )
        if not checks:
            return []
        return ['if (is(x, "object")) {', *(f"    {c}" for c in checks), "}"]

    def _discriminator(self, schema: Mapping[str, Any], uri: str, pointer: str) -> tuple[str, dict[str, int]] | None:
        """(property, value -> schema function) of a discriminator over oneOf/anyOf: the names of
        the branches' `$ref` targets, then the `mapping` (a schema name or a `$ref`)."""
        disc = schema.get("discriminator")
        kind = "oneOf" if isinstance(schema.get("oneOf"), list) else "anyOf"
        branches = schema.get(kind)
        if not isinstance(disc, dict) or not isinstance(disc.get("propertyName"), str) or not isinstance(branches, list):
            return None
        table: dict[str, int] = {}
        for i, branch in enumerate(branches):
            if isinstance(branch, dict) and isinstance(branch.get("$ref"), str):
                # The schema's name: the last segment of the fragment, or the file's stem
                # (`./Cat.yaml` is "Cat"; a hunt).
                ref = branch["$ref"]
                name = ref.rsplit("/", 1)[-1] if "#" in ref else ref.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                table[name] = int(self.compile(branch, uri, f"{pointer}/{kind}/{i}"))
        for value, target in sorted((disc.get("mapping") or {}).items()):
            if isinstance(target, str):
                ref = target if "/" in target or "#" in target else f"#/components/schemas/{target}"
                table[str(value)] = int(self._ref(ref, uri, f"{pointer}/discriminator/mapping"))
        return (disc["propertyName"], table) if table else None

    def _nullable(self, schema: Mapping[str, Any]) -> bool:
        return self.nullable and schema.get("nullable") is True

    def _read_only_names(self, schema: Any, uri: str, depth: int = 0) -> set[str]:
        """Properties a schema declares readOnly, through $refs and allOf (bounded: cycles)."""
        if depth > 8 or not isinstance(schema, dict):
            return set()
        if isinstance(schema.get("$ref"), str):
            try:
                target, t_uri, _ = self.resolve(schema["$ref"], uri)
            except (KeyError, ValueError):
                target, t_uri = None, uri
            names = self._read_only_names(target, t_uri, depth + 1)
        else:
            names = set()
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        names |= {k for k, v in props.items() if self._read_only(v, uri)}
        for sub in schema.get("allOf") or ():
            names |= self._read_only_names(sub, uri, depth + 1)
        return names

    def _read_only(self, schema: Any, uri: str) -> bool:
        # `{$ref: ..., readOnly: true}` (OpenAPI 3.1 allows siblings of $ref): the referencing
        # object says it (found by a hunt: it was looked for on the target only).
        if isinstance(schema, dict) and schema.get("readOnly") is True:
            return True
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            try:
                schema, _, _ = self.resolve(schema["$ref"], uri)
            except (KeyError, ValueError):
                return False
        return isinstance(schema, dict) and schema.get("readOnly") is True

    def source(self) -> str:
        """The schema functions in group factories, and the ``check`` dispatcher, as JavaScript."""
        groups = []
        for start in range(0, len(self.functions), GROUP):
            members = range(start, min(start + GROUP, len(self.functions)))
            funcs = []
            for n in members:
                comment, body = self.functions[n]
                lines = "".join(f"        {line}\n" for line in body.splitlines())
                funcs.append(f"    // {comment}\n    function s{n}(x, p, e) {{\n{lines}    }}\n")
            names = ", ".join(f"s{n}" for n in members)
            groups.append(f"function g{start // GROUP}() {{\n{''.join(funcs)}    return [{names}];\n}}\n")
        shift = GROUP.bit_length() - 1
        cases = "".join(f"        case {i}: g = g{i}(); break;\n" for i in range(len(groups)))
        return (
            "\n".join(groups)
            + "\n// Schema n is function n % GROUP of group n / GROUP, made on first use in a request.\n"
            + "var G = [];\n"
            + "function check(n, x, p, e) {\n"
            + f"    var i = n >> {shift}, g = G[i];\n"
            + f"    if (g === undefined) {{\n        switch (i) {{\n{cases}        }}\n        G[i] = g;\n    }}\n"
            + f"    g[n & {GROUP - 1}](x, p, e);\n"
            + "}\n"
        )


def _counts(schema: Mapping[str, Any], measure: str, low: tuple[str, str], high: tuple[str, str]) -> list[str]:
    """Checks of a lower and an upper bound on a count (characters, items, properties)."""
    out = []
    for (key, message), op in ((low, "<"), (high, ">")):
        n = schema.get(key)
        if isinstance(n, int) and not isinstance(n, bool):
            out.append(f"if ({measure} {op} {n}) add(e, p, {js(message.format(n))});")
    return out


def _comment(text: str) -> str:
    # A line comment ends at any line terminator: keep only printable characters.
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_END_OF_INPUT = r"(?![\s\S])"


_CLASS_ESCAPES = frozenset("dDwWsS")
# What ECMA's `\s` adds to PCRE's (ASCII) one, and ECMA's line terminators, which its `.` excludes
# (PCRE's `.` excludes only "\n"): written as escapes njs's RegExp reads as code points.
_ECMA_SPACE_EXTRA = r"\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ECMA_DOT = r"[^\n\r\u2028\u2029]"


def ecma_pattern(pattern: str) -> str:
    r"""``pattern`` for njs 0.7.9's regexes, which are PCRE's, meaning what it means in ECMA-262
    (JSON Schema's dialect):

    - ``$`` outside a character class becomes an end-of-input lookahead: PCRE's also matches
      before a final line feed, so ``^[a-z]+$`` accepted ``"abc\n"`` (found by a hunt);
    - in a class, a ``-`` next to a class escape (``[\w-.]``) is a literal dash in ECMA and an
      invalid range to PCRE, which refused the pattern (every value failed): escaped;
    - ``[]`` matches nothing and ``[^]`` any character in ECMA; PCRE reads a ``]`` there as the
      class's first member and refused both: ``(?!)`` and ``[\s\S]``;
    - ``.`` excludes every ECMA line terminator (PCRE's also matched CR and U+2028), and ``\s``
      (``\S`` outside a class) takes ECMA's Unicode spaces (PCRE's are ASCII). ``\S`` inside a
      class stays PCRE's."""
    out: list[str] = []
    i, in_class, after_escape = 0, False, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            escape = pattern[i : i + 2]
            if escape == "\\s":
                escape = "\\s" + _ECMA_SPACE_EXTRA if in_class else "[\\s" + _ECMA_SPACE_EXTRA + "]"
            elif escape == "\\S" and not in_class:
                escape = "[^\\s" + _ECMA_SPACE_EXTRA + "]"
            out.append(escape)
            after_escape = in_class and pattern[i + 1 : i + 2] in _CLASS_ESCAPES
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            elif ch == "-" and (after_escape or (pattern[i + 1 : i + 2] == "\\" and pattern[i + 2 : i + 3] in _CLASS_ESCAPES)):
                ch = "\\-"
            after_escape = False
        elif ch == "[":
            if pattern.startswith("[]", i) or pattern.startswith("[^]", i):
                out.append("(?!)" if pattern[i + 1] == "]" else "[\\s\\S]")
                i += 2 if pattern[i + 1] == "]" else 3
                continue
            in_class, after_escape = True, False
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
                continue
        elif ch == "$":
            ch = _END_OF_INPUT
        elif ch == ".":
            ch = _ECMA_DOT
        out.append(ch)
        i += 1
    return "".join(out)


def _esc(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def js(value: Any) -> str:
    """A JavaScript literal for a JSON value (JSON is valid JavaScript; U+2028/9 escaped)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=True)


RUNTIME = r"""
// --- runtime shared by every generated validator -----------------------------------------
function add(e, p, msg) { if (e.length < e.max) e.push(p + ": " + msg); }
function errors(max) { var e = []; e.max = max; return e; }
function esc(k) { return String(k).split("~").join("~0").split("/").join("~1"); }
function has(x, k) { return Object.prototype.hasOwnProperty.call(x, k); }
function is(x, t) {
    switch (t) {
    case "null": return x === null;
    case "boolean": return typeof x === "boolean";
    case "string": return typeof x === "string";
    case "number": return typeof x === "number" && isFinite(x);
    case "integer": return typeof x === "number" && isFinite(x) && Math.floor(x) === x;
    case "array": return Array.isArray(x);
    case "object": return x !== null && typeof x === "object" && !Array.isArray(x);
    }
    return false;
}
function eq(a, b) {
    if (a === b) return true;
    if (Array.isArray(a)) {
        if (!Array.isArray(b) || a.length !== b.length) return false;
        for (var i = 0; i < a.length; i++) if (!eq(a[i], b[i])) return false;
        return true;
    }
    if (is(a, "object") && is(b, "object")) {
        var ka = Object.keys(a), kb = Object.keys(b);
        if (ka.length !== kb.length) return false;
        for (var j = 0; j < ka.length; j++) if (!has(b, ka[j]) || !eq(a[ka[j]], b[ka[j]])) return false;
        return true;
    }
    return false;
}
function oneOfValues(x, values) { for (var i = 0; i < values.length; i++) if (eq(x, values[i])) return true; return false; }
// uniqueItems by a canonical text of each item (object keys sorted; 1 and 1.0 are one number):
// linear, where comparing every pair let an 85 KB array hold a worker for 25 s (found by a hunt).
function canon(x) {
    if (Array.isArray(x)) return "[" + x.map(canon).join(",") + "]";
    if (is(x, "object")) return "{" + Object.keys(x).sort().map(function (k) { return JSON.stringify(k) + ":" + canon(x[k]); }).join(",") + "}";
    return typeof x === "number" ? "n" + String(x) : JSON.stringify(x);
}
function unique(x) {
    var seen = Object.create(null);
    for (var i = 0; i < x.length; i++) { var c = canon(x[i]); if (seen[c]) return false; seen[c] = true; }
    return true;
}
function ulen(s) { var n = 0; for (var i = 0; i < s.length; i++) { var c = s.charCodeAt(i); if (c < 0xDC00 || c > 0xDFFF) n++; } return n; }
// A tolerance of a few units in the last place of the quotient: floating point makes 19.99 / 0.01
// 1998.9999999999998, but an absolute 1e-9 passed 3.0000000005 as a multiple of 1 (a hunt), and a
// relative 1e-12 passed every value above 5e11 (a review).
function multipleOf(x, m) { var q = x / m; return isFinite(q) && Math.abs(q - Math.round(q)) <= Math.abs(q) * 8.9e-16; }
var RE = Object.create(null);  // compiled patterns of this request (each request starts from the module's state)
function match(src, s) {
    var r = RE[src];
    if (r === undefined) { try { r = new RegExp(src); } catch (err) { r = null; } RE[src] = r; }
    if (r === null) return false;  // a pattern njs cannot compile fails closed
    // PCRE gives up on a catastrophic backtracking (`^(a+)+$` against "aaa...b") with an
    // InternalError ("match limit exceeded"), which answered 500 (a hunt): the value cannot be
    // checked, a client error like a value nested too deeply (see guarded).
    try { return r.test(s); } catch (err) { throw err instanceof InternalError ? TOO_COSTLY : err; }
}
var TOO_COSTLY = {};  // thrown by match: the regex engine gave up on this text
// check(), with the values that cannot be checked refused: nested deeper than njs's 64 KiB stack
// (about a dozen levels of a recursive schema) or too costly to match against a pattern.
function guarded(fn, x, p, e) {
    try { check(fn, x, p, e); } catch (err) {
        if (err instanceof RangeError) add(e, p, "nested too deeply to be checked");
        else if (err === TOO_COSTLY) add(e, p, "too costly to match against its pattern");
        else throw err;
    }
}
function countValid(x, p, fns, stop) {
    var n = 0;
    for (var i = 0; i < fns.length && n < stop; i++) { var t = errors(1); check(fns[i], x, p, t); if (t.length === 0) n++; }
    return n;
}
// Anchored with an end-of-input lookahead: njs's regexes are PCRE's, where `$` also matches
// before a final line feed ("2020-01-01\n" passed `date`; found by a hunt).
var DATE = /^(\d{4})-(\d{2})-(\d{2})(?![\s\S])/;
var TIME = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))(?![\s\S])/;
function validDate(s) {
    var m = DATE.exec(s);
    if (!m) return false;
    var y = +m[1], mo = +m[2], d = +m[3];
    var days = [31, (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    return mo >= 1 && mo <= 12 && d >= 1 && d <= days[mo - 1];
}
function validTime(s) {
    var m = TIME.exec(s);
    return !!m && +m[1] <= 23 && +m[2] <= 59 && +m[3] <= 60 && (!m[6] || (+m[6] <= 23 && +m[7] <= 59));
}
var FORMAT = {
    "date": validDate,
    "date-time": function (s) { var t = s.search(/[Tt]/); return t === 10 && validDate(s.slice(0, 10)) && validTime(s.slice(11)); },
    "uuid": function (s) { return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\s\S])/.test(s); },
    "email": function (s) { return /^[^\s@]+@[^\s@]+(?![\s\S])/.test(s); },
    "ipv4": function (s) { var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\s\S])/.exec(s); return !!m && m.slice(1).every(function (o) { return +o <= 255 && (o === "0" || o[0] !== "0"); }); }
};
"""
