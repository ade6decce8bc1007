"""openapi-spec-validator's validators, imported on first use (~0.22 s, which a build whose
documents are all in the validation cache never pays)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_patched = False


def _is_pattern(instance: object) -> bool:
    """The `regex` format of schema `pattern`s: ECMA-262 is what JSON Schema and OpenAPI say, so
    `\\p{L}` and `(?<name>...)` are patterns (Python's `re` refused them and failed the whole
    document; found by a hunt). A pattern Python's `re` reads is accepted too, as before: njs
    (PCRE) reads those, and a document that built once keeps building."""
    if not isinstance(instance, str):
        return True
    try:
        re.compile(instance)
        return True
    except re.error:
        pass
    import regress

    try:
        regress.Regex(instance)
    except regress.RegressError:
        return False
    return True


def _lenient_regex_format() -> None:
    global _patched
    if _patched:
        return
    import openapi_schema_validator as oas

    for name in ("oas30_format_checker", "oas31_format_checker", "oas32_format_checker"):
        checker = getattr(oas, name, None)
        if checker is not None:
            # A dict of its own: the class-level one is shared by every FormatChecker.
            checker.checkers = {**checker.checkers, "regex": (_is_pattern, ())}
    _patched = True


class _LocalDocuments(Mapping[str, Any]):
    """The validator's `$ref` handlers, for every URL scheme: local files through apigen's own
    loader (duplicate keys and alias bombs refused, as for the root document), nothing else.
    The defaults fetched http(s) documents from the network, and unknown schemes too (found by a
    hunt); apigen.load.spec_loader reports such `$ref`s, with their place, before validation."""

    def __getitem__(self, scheme: str) -> Any:
        return self._load

    def __contains__(self, scheme: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(("file",))

    def __len__(self) -> int:
        return 1

    @staticmethod
    def _load(uri: str) -> Any:
        from urllib.parse import urldefrag

        from apigen.load.spec_loader import read_document, uri_path

        uri = urldefrag(uri)[0]
        if not uri.startswith("file:///"):
            raise ValueError(f"only local files are read, not {uri[:200]}")
        name = uri_path(uri).name
        document = read_document(uri, name)
        if not isinstance(document, (dict, list)):
            # A file that reads as a YAML string (a key, .env): never quoted in a message.
            raise ValueError(f"{name} is not a YAML or JSON document")
        return document


LOCAL_DOCUMENTS = _LocalDocuments()


def import_validators() -> None:
    import openapi_spec_validator  # noqa: F401

    _lenient_regex_format()


def plain_validator_class(version: str) -> Any:
    """The validator for ``version`` that checks the document against the OpenAPI JSON Schema
    with the fastest backend installed (jsonschema-rs when present)."""
    from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    _lenient_regex_format()
    if version not in _LOCAL:
        base = {"2.0": OpenAPIV2SpecValidator, "3.0": OpenAPIV30SpecValidator, "3.1": OpenAPIV31SpecValidator}[version]
        keywords = {**base.keyword_validators, "paths": _paths_validator_class()}
        _LOCAL[version] = type(
            f"Local{base.__name__}", (base,), {"resolver_handlers": LOCAL_DOCUMENTS, "keyword_validators": keywords}
        )
    return _LOCAL[version]


def _paths_validator_class() -> Any:
    """openapi-spec-validator's Paths check without the Paths Object's extensions: it read every
    key as a path item, so a valid `x-note: 1` there made it raise (reported as "the validator
    failed ('x-note')" at 1:1), and an `x-...` mapping with a `get` key was checked as an
    operation (found by a hunt). The schema check still covers the extensions (any value)."""
    from openapi_spec_validator.validation.keywords import PathsValidator

    class _PathsWithoutExtensions(PathsValidator):  # type: ignore[misc]
        def __call__(self, paths: Any) -> Iterator[Any]:
            for url, path_item in paths.items():
                if not str(url).startswith("x-"):
                    yield from self.path_validator(url, path_item)

    return _PathsWithoutExtensions


_LOCAL: dict[str, Any] = {}


def document_is_valid(version: str, document: Any, base_uri: str) -> bool:
    validator = plain_validator_class(version)(document, base_uri=base_uri)
    return next(iter(validator.iter_errors()), None) is None
