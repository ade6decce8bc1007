"""openapi-spec-validator's validators, imported on first use (~0.22 s, which a build whose
documents are all in the validation cache never pays)."""

from __future__ import annotations

from typing import Any


def import_validators() -> None:
    import openapi_spec_validator  # noqa: F401


def plain_validator_class(version: str) -> Any:
    """The validator for ``version`` that checks the document against the OpenAPI JSON Schema
    with the fastest backend installed (jsonschema-rs when present)."""
    from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    return {"2.0": OpenAPIV2SpecValidator, "3.0": OpenAPIV30SpecValidator, "3.1": OpenAPIV31SpecValidator}[version]


def document_is_valid(version: str, document: Any, base_uri: str) -> bool:
    validator = plain_validator_class(version)(document, base_uri=base_uri)
    return next(iter(validator.iter_errors()), None) is None
