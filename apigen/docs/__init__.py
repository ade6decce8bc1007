"""Generate the policy reference (``docs/policy-reference.md``) from
``schemas/policy.schema.json``, so the documentation and the schema cannot drift apart.

    python -m apigen.docs -o docs/policy-reference.md     # regenerate
    python -m apigen.docs --check docs/policy-reference.md  # exit 1 if it is stale

A test runs the check on the committed file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apigen.resources import schema_path

HEADER = """\
<!-- Generated from schemas/policy.schema.json by `python -m apigen.docs`. Do not edit by hand:
     change the schema and regenerate (a test fails when this file is stale). -->
"""


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _link(name: str) -> str:
    return f"[`{name}`](#{_anchor(name)})"


def _anchor(name: str) -> str:
    return "def-" + name.replace("_", "-").lower()


def _code(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def type_text(s: dict[str, Any]) -> str:
    """A one-line description of what a schema accepts."""
    if "$ref" in s:
        return _link(_ref_name(s["$ref"]))
    for key in ("oneOf", "anyOf"):
        if key in s:
            return " or ".join(type_text(alt) for alt in s[key])
    if "const" in s:
        return _code(s["const"])
    if "enum" in s:
        return "one of " + ", ".join(_code(v) for v in s["enum"])
    t = s.get("type")
    if t == "array":
        items = type_text(s.get("items") or {}) if s.get("items") else "values"
        extra = f" (at least {s['minItems']})" if s.get("minItems") else ""
        return f"list of {items}{extra}"
    if t == "object":
        ap = s.get("additionalProperties")
        if isinstance(ap, dict) and not s.get("properties"):
            keys = type_text(s["propertyNames"]) if "propertyNames" in s else "name"
            return f"map of {keys} → {type_text(ap)}"
        return "mapping (see below)" if s.get("properties") else "mapping"
    if t == "string":
        if "pattern" in s:
            return f"string matching {_code(s['pattern'])}"
        return "string" + (" (not empty)" if s.get("minLength") else "")
    if t in ("integer", "number"):
        lo, hi = s.get("minimum"), s.get("maximum")
        if lo is not None and hi is not None:
            return f"{t} {lo}–{hi}"
        if lo is not None:
            return f"{t} ≥ {lo}"
        return t
    if t == "boolean":
        return "boolean"
    if "pattern" in s:
        return f"string matching {_code(s['pattern'])}"
    return "any"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _properties_table(s: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    props = s.get("properties") or {}
    if not props:
        return []
    required = set(s.get("required") or ())
    lines = ["| key | accepts | required | default | description |", "|---|---|---|---|---|"]
    for key, sub in props.items():
        default = _code(sub["default"]) if "default" in sub else ""
        desc = sub.get("description", "")
        if "$ref" in sub and not desc:  # the definition's own description, first sentence
            desc = (defs.get(_ref_name(sub["$ref"])) or {}).get("description", "").split(". ")[0]
        lines.append(
            f"| `{key}` | {_cell(type_text(sub))} | {'yes' if key in required else ''} | {_cell(default)} | {_cell(desc)} |"
        )
    return lines


def _section(name: str, s: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    lines = [f'<a id="{_anchor(name)}"></a>', f"### `{name}`", ""]
    if s.get("description"):
        lines += [s["description"], ""]
    table = _properties_table(s, defs)
    if table:
        if s.get("additionalProperties") is False:
            lines += ["Other keys are rejected.", ""]
        lines += [*table, ""]
    else:
        lines += [f"Accepts: {type_text(s)}.", ""]
    nested = [(k, v) for k, v in (s.get("properties") or {}).items() if v.get("type") == "object" and v.get("properties")]
    for key, sub in nested:
        lines += [f"#### `{name}.{key}`", ""]
        if sub.get("description"):
            lines += [sub["description"], ""]
        lines += [*_properties_table(sub, defs), ""]
    return lines


def _policy_kinds(defs: dict[str, Any]) -> list[str]:
    policy = defs.get("policy") or {}
    kinds = ((policy.get("properties") or {}).get("kind") or {}).get("enum") or []
    lines = ["## Policy kinds", "", "Every entry of `policies:` has a `kind`; the other keys depend on it.", ""]
    lines += ["| kind | section |", "|---|---|"]
    for kind in kinds:
        section = f"policy_{kind}"
        lines.append(f"| `{kind}` | {_link(section) if section in defs else ''} |")
    return [*lines, ""]


def generate(schema: dict[str, Any] | None = None) -> str:
    schema = schema or json.loads(schema_path().read_text(encoding="utf-8"))
    defs: dict[str, Any] = schema.get("$defs") or {}
    lines = [HEADER, f"# Policy file reference: {schema.get('title', 'apigen policy file')}", ""]
    if schema.get("description"):
        lines += [schema["description"], ""]
    lines += [
        "Editors that speak JSON Schema complete and check the file when it starts with",
        "`# yaml-language-server: $schema=<path>/schemas/policy.schema.json`.",
        "",
        "## Top level",
        "",
        *_properties_table(schema, defs),
        "",
    ]
    lines += _policy_kinds(defs)
    lines += ["## Definitions", ""]
    policy_defs = sorted(n for n in defs if n.startswith("policy_"))
    others = sorted(n for n in defs if not n.startswith("policy_"))
    for name in others + policy_defs:
        lines += _section(name, defs[name], defs)
    return "\n".join(lines).rstrip("\n") + "\n"


def check(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8") == generate()
    except OSError:
        return False
