"""Validate OpenAPI documents with openapi-spec-validator, errors located in the source file."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from apigen.diagnostics import Diagnostics
from apigen.load.spec_loader import SpecSet, locate

_VALIDATORS: dict[str, Any] = {
    "2.0": OpenAPIV2SpecValidator,
    "3.0": OpenAPIV30SpecValidator,
    "3.1": OpenAPIV31SpecValidator,
}

# A broken document can produce thousands of errors; the first ones are what a user fixes first.
MAX_ERRORS = 50


def validate_spec(specs: SpecSet, version: str, diags: Diagnostics) -> bool:
    validator = _VALIDATORS[version](specs.root, base_uri=specs.root_uri)
    display = specs.display(specs.root_uri)
    count = 0
    try:
        for error in validator.iter_errors():
            count += 1
            if count > MAX_ERRORS:
                diags.error(
                    f"more than {MAX_ERRORS} OpenAPI errors; stopping here", locate(specs.root_uri, (), display)
                )
                break
            path = tuple(getattr(error, "absolute_path", None) or getattr(error, "path", ()) or ())
            where = "/".join(str(p) for p in path)
            message = getattr(error, "message", str(error))
            diags.error(
                f"invalid OpenAPI {version} document: {where + ': ' if where else ''}{message}",
                locate(specs.root_uri, path, display),
                code="openapi",
            )
    except RecursionError:
        diags.error("OpenAPI document is nested too deeply ($ref cycle?)", locate(specs.root_uri, (), display))
        return False
    except Exception as exc:  # the validator resolves $refs itself; a bad one raises, not yields
        diags.error(f"invalid OpenAPI {version} document: {_short(exc)}", locate(specs.root_uri, (), display))
        return False
    return count == 0


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # The referencing library appends the whole document ("... does not exist within {...}").
    text = text.split(" within {", 1)[0]
    name = type(exc).__name__
    if any(word in name for word in ("Unresolvable", "Resolution", "Resource", "Pointer", "RefResolution")):
        text = f"cannot resolve $ref {text}"
    return text[:300]
