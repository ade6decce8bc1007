"""Validate the policy file against ``schemas/policy.schema.json`` (JSON Schema 2020-12).

Every error is reported, each at the line and column of the offending value (or key).
"""

from __future__ import annotations

import difflib
import functools
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from apigen.diagnostics import Diagnostics
from apigen.load.policy_loader import PolicySource
from apigen.resources import schema_path


@functools.lru_cache(maxsize=1)
def policy_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def _is_integer(checker: object, value: object) -> bool:
    # JSON Schema counts 2.0 as an integer; nginx reads "2.0" as no number at all (weight=2.0 is
    # an invalid parameter), so the policy file's integers are integers as written.
    return isinstance(value, int) and not isinstance(value, bool)


# Draft 2020-12 with integers as written (see _is_integer).
_PolicyValidator = jsonschema.validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)
)


@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    # The schema itself is checked against the metaschema by the unit tests, not on every run
    # (check_schema takes longer than validating a policy).
    return _PolicyValidator(policy_schema(), format_checker=jsonschema.FormatChecker())


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The most specific errors: for oneOf/anyOf/if-then, descend into the best branch, which is
    one whose type the value has (``listen: "abc"`` is a bad string, not a bad array)."""
    if error.context:
        branches: dict[object, list[ValidationError]] = defaultdict(list)
        for e in error.context:
            branches[e.relative_schema_path[0] if e.relative_schema_path else None].append(e)
        typed = [
            e
            for errs in branches.values()
            if not any(e.validator == "type" and not e.relative_path for e in errs)
            for e in errs
        ]
        best = jsonschema.exceptions.best_match(typed or error.context)
        if best is not None and best is not error:
            yield from _leaves(best)
            return
    yield error


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    prefix = f"{where}: " if where else ""
    validator = error.validator
    if validator == "required":
        return f"{prefix}{error.message.replace(' is a required property', '')} is required"
    if validator == "pattern":
        return f"{prefix}{error.instance!r} is not allowed here (must match {error.validator_value})"
    if validator in ("enum", "const"):
        allowed = error.validator_value if validator == "enum" else [error.validator_value]
        return f"{prefix}{error.instance!r} is not one of {', '.join(map(str, allowed))}"
    if validator == "type":
        return f"{prefix}expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r}"
    return f"{prefix}{error.message}"


def validate_policy_schema(source: PolicySource, diags: Diagnostics) -> bool:
    """Append every schema violation to ``diags``; return True when the file is valid."""
    ok = True
    errors = sorted(_validator().iter_errors(source.data), key=lambda e: [str(p) for p in e.absolute_path])
    for top in errors:
        for error in _leaves(top):
            ok = False
            path = tuple(error.absolute_path)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                known = sorted((error.schema.get("properties") or {}).keys())
                for key in sorted(k for k in error.instance if k not in known):
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    where = "/".join(str(p) for p in path)
                    msg = f"{where + ': ' if where else ''}unknown key {key!r}{hint}"
                    diags.error(msg, source.pos(*path, key, key=True), code="schema")
                continue
            if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
                # The error is about a key, not a value: point at the key itself.
                where = "/".join(str(p) for p in path)
                msg = f"{where + ': ' if where else ''}invalid name {error.instance!r}: {_describe(error).split(': ', 1)[-1]}"
                diags.error(msg, source.pos(*path, error.instance, key=True), code="schema")
                continue
            diags.error(_describe(error), source.pos(*path), code="schema")
    return ok
