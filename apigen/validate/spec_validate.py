"""Validate OpenAPI documents with openapi-spec-validator, errors located in the source file."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from typing import Any
from urllib.parse import urldefrag, urljoin

from apigen import __version__
from apigen.cache import has_marker, put_marker
from apigen.diagnostics import Diagnostics
from apigen.load.spec_loader import SpecSet, locate, pointer_to_path, uri_path
from apigen.load.yaml_positions import YamlLoadError
from apigen.validate.openapi_validators import plain_validator_class
from apigen.validate.parallel import is_valid

_CACHE_PART = "validated-specs"


def _reporting_validator_class(version: str) -> Any:
    """openapi-spec-validator's validator for ``version`` on the ``jsonschema`` package, whose
    messages (one line, with the failing value) are what diagnostics show, whichever backend is
    installed (the fast check, apigen.validate.parallel, uses the fastest one)."""
    plain = plain_validator_class(version)
    if version not in _REPORTING:
        from jsonschema.validators import validator_for
        from openapi_spec_validator.schemas import schema_v2, schema_v30, schema_v31

        schema = {"2.0": schema_v2, "3.0": schema_v30, "3.1": schema_v31}[version]
        content = dict(schema)
        _REPORTING[version] = type(f"Reporting{plain.__name__}", (plain,), {"schema_validator": validator_for(content)(content)})
    return _REPORTING[version]


_REPORTING: dict[str, Any] = {}


def _validator_identity() -> str:
    """Which openapi-spec-validator (and schema backend) is installed, without importing it
    (importlib.metadata alone costs 10 ms): its files' location, size and mtime change with it."""
    parts = []
    for name in ("openapi_spec_validator", "openapi_schema_validator", "jsonschema", "jsonschema_rs"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            st = os.stat(spec.origin)
            parts.append(f"{spec.origin}:{st.st_size}:{st.st_mtime_ns}")
        else:
            parts.append(f"{name}:absent")
    return "|".join(parts)


def validation_key(specs: SpecSet, version: str) -> str | None:
    """A digest of everything the validation result depends on: the bytes of the root document
    and of every document its ``$ref``s reach, their locations, and the tool versions. None when
    a document cannot be read (the validator then reports it)."""
    h = hashlib.sha256()
    backend = os.environ.get("OPENAPI_SPEC_VALIDATOR_SCHEMA_VALIDATOR_BACKEND", "")
    h.update(f"{__version__}\0{_validator_identity()}\0{backend}\0{version}\0".encode())
    # The documents apigen loaded (the root and every one its `$ref`s reach, read with the
    # loader's size limit before validation): walking the `$ref`s again here also read files
    # named in example data, whole (`/dev/zero`: out of memory; a FIFO: a hang; a review).
    if not specs.load_referenced():  # loaded already in a build; a document that fails: no key
        return None
    try:
        for uri in sorted(specs.documents):
            if not uri.startswith("file://"):
                return None
            h.update(uri.encode() + b"\0" + uri_path(uri).read_bytes() + b"\0")
    except OSError:
        return None
    return h.hexdigest()


# A broken document can produce thousands of errors; the first ones are what a user fixes first.
MAX_ERRORS = 50


def validate_spec(specs: SpecSet, version: str, diags: Diagnostics) -> bool:
    key = validation_key(specs, version)
    if key is not None and has_marker(_CACHE_PART, key):
        return True  # these exact bytes passed this exact validator before
    # Valid documents are the common case: check fast first (parallel, fastest backend) and
    # only run the slower reporting validator when something is wrong.
    ok = is_valid(specs, version) or _validate(specs, version, diags)
    ok = _validate_referenced_path_items(specs, version, diags) and ok
    if ok and key is not None:
        put_marker(_CACHE_PART, key)
    return ok


# Where each version's schema defines a path item.
_PATH_ITEM_SCHEMA = {"2.0": "#/definitions/pathItem", "3.0": "#/definitions/PathItem", "3.1": "#/$defs/path-item"}
_PATH_ITEM_VALIDATORS: dict[str, Any] = {}


def _path_item_validator(version: str) -> Any:
    if version not in _PATH_ITEM_VALIDATORS:
        from jsonschema.validators import validator_for
        from openapi_spec_validator.schemas import schema_v2, schema_v30, schema_v31

        full = {"2.0": schema_v2, "3.0": schema_v30, "3.1": schema_v31}[version]
        # The document's own keywords dropped (2020-12 applies a $ref's siblings): its
        # definitions stay for the path item's $refs to them.
        keep = {k: v for k, v in full.items() if k in ("$id", "id", "$schema", "definitions", "$defs")}
        schema = {**keep, "$ref": _PATH_ITEM_SCHEMA[version]}
        _PATH_ITEM_VALIDATORS[version] = validator_for(full)(schema)
    return _PATH_ITEM_VALIDATORS[version]


def _validate_referenced_path_items(specs: SpecSet, version: str, diags: Diagnostics) -> bool:
    """openapi-spec-validator does not follow a path item's `$ref`: in another file (or elsewhere
    in the document) a path item was never checked, and a `security` written as a mapping made
    its operation public (found by a hunt). Each such path item is checked against the version's
    path item schema, errors at their place in the referenced document."""
    paths = specs.root.get("paths")
    ok = True
    for key, item in sorted(paths.items()) if isinstance(paths, dict) else ():
        if not (isinstance(item, dict) and isinstance(item.get("$ref"), str)):
            continue
        try:
            target, uri, pointer = specs.resolve(item["$ref"], specs.root_uri)
        except (KeyError, ValueError):
            continue  # reported where the operations are read (apigen.model.openapi)
        base = pointer_to_path(pointer)
        found = (e for top in _path_item_validator(version).iter_errors(target) for e in _explained(top))
        errors = sorted(found, key=lambda e: tuple(map(str, e.absolute_path)))
        for error in errors[:MAX_ERRORS]:
            ok = False
            path = (*base, *error.absolute_path)
            message = str(error.message).split("\n\n", 1)[0].strip()
            where = " > ".join(str(p) for p in ("paths", key, *error.absolute_path))
            unknown = _unknown_keys(error)
            diags.error(
                f"invalid OpenAPI {version} document: {where}: {message}",
                locate(uri, (*path, unknown[0]), specs.display(uri), key=True)
                if unknown
                else locate(uri, path, specs.display(uri)),
                code="openapi",
            )
    return ok


def _validate(specs: SpecSet, version: str, diags: Diagnostics) -> bool:
    validator = _reporting_validator_class(version)(specs.root, base_uri=specs.root_uri)
    display = specs.display(specs.root_uri)
    count = 0
    try:
        for error in (e for top in validator.iter_errors() for e in _explained(top)):
            count += 1
            if count > MAX_ERRORS:
                diags.error(
                    f"more than {MAX_ERRORS} OpenAPI errors; stopping here", locate(specs.root_uri, (), display)
                )
                break
            _report(specs, version, error, diags)
    except RecursionError:
        cycle = _find_ref_cycle(specs)
        if cycle is not None:
            path, ref, why = cycle
            what = "leads back to itself (a $ref cycle)" if "cycle" in why else "starts a chain of $refs too long to follow"
            diags.error(f"$ref {ref!r} {what}", locate(specs.root_uri, (*path, "$ref"), display), code="openapi")
        else:
            diags.error("OpenAPI document is nested too deeply ($ref cycle?)", locate(specs.root_uri, (), display))
        return False
    except Exception as exc:  # the validator resolves $refs itself; a bad one raises, not yields
        ref = getattr(exc, "ref", None)
        anchor = getattr(exc, "anchor", None)  # referencing.exceptions.NoSuchAnchor
        if isinstance(anchor, str):
            # Its `ref` is the document's URI: the message named the document at 1:1 (a hunt).
            found = _find_ref(specs.root, "#" + anchor)
            diags.error(
                f"cannot resolve $ref {'#' + anchor!r}: references to an `$anchor` are not supported; "
                "refer to the schema by its JSON pointer (#/components/schemas/...)",
                locate(specs.root_uri, (*found[0], "$ref") if found is not None else (), display),
                code="openapi",
            )
            return False
        if isinstance(ref, str) and _report_broken_file(specs, ref, diags):
            return False  # the referenced file exists but does not parse: that is the error
        if isinstance(ref, str):  # referencing.exceptions.Unresolvable: point at the $ref itself
            found = _find_ref(specs.root, ref)
            written = found[1] if found is not None else ref
            remote = "://" in written.split("#", 1)[0] and not written.startswith("file:")
            why = "remote references are not supported" if remote else "no such file, or nothing at that place in it"
            diags.error(
                f"cannot resolve $ref {written!r}: {why}",
                locate(specs.root_uri, (*found[0], "$ref") if found is not None else (), display),
                code="openapi",
            )
        elif count:
            pass  # the validator tripped over what it already reported: its exception adds nothing
        elif not _report_bad_templates(specs, diags, display):
            diags.error(
                f"invalid OpenAPI {version} document: the validator failed ({_short(exc)})",
                locate(specs.root_uri, (), display),
                hint="check the path templates and $refs of the document",
            )
        return False
    return count == 0


def _report_bad_templates(specs: SpecSet, diags: Diagnostics, display: str) -> bool:
    """What the validator raises on instead of reporting: path keys whose braces do not pair
    (`/h/{`), path items whose $ref is no path item (`/etc/passwd`)."""
    paths = specs.root.get("paths") if isinstance(specs.root, dict) else None
    found = False
    for key in paths if isinstance(paths, dict) else ():
        text = str(key)
        depth, ok = 0, True
        for ch in text:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            ok = ok and 0 <= depth <= 1
        if not ok or depth:
            diags.error(
                f"path template {text!r} has an unpaired '{{' or '}}'",
                locate(specs.root_uri, ("paths", key), display, key=True),
                code="openapi",
            )
            found = True
        item = paths[key]
        ref = item.get("$ref") if isinstance(item, dict) else None
        if isinstance(ref, str):
            try:
                target = specs.resolve(ref, specs.root_uri)[0]
            except Exception:  # any failure to load it means the same to the user
                target = None
            if not isinstance(target, dict):
                diags.error(
                    f"$ref {ref!r} of path {text!r} is not an OpenAPI path item",
                    locate(specs.root_uri, ("paths", key, "$ref"), display),
                    code="openapi",
                )
                found = True
    return found


# The validator's own checks (duplicate operationIds, unresolved path parameters) carry no data
# path, only a message naming the operation; recover where it is from the message.
_MESSAGE_PATHS = (
    (re.compile(r"^Operation ID '.*' for '(\w+)' in '(.*)' is not unique$"), ("operationId",)),
    (re.compile(r"^Path parameter '.*' for '(\w+)' operation in '(.*)' was not resolved$"), ()),
)


def _report(specs: SpecSet, version: str, error: Any, diags: Diagnostics) -> None:
    path = tuple(getattr(error, "absolute_path", None) or getattr(error, "path", ()) or ())
    # The validator appends the failing schema and instance after a blank line: drop them.
    message = str(getattr(error, "message", error)).split("\n\n", 1)[0].strip()
    located = path or _path_from_message(message)
    where = " > ".join(str(p) for p in path)
    found = _where(specs, located, getattr(error, "instance", None))
    doc_uri, located = found if found is not None else (specs.root_uri, located)
    unknown = _unknown_keys(error)
    diags.error(
        f"invalid OpenAPI {version} document: {where + ': ' if where else ''}{message}",
        # An unknown key is reported at the key (the first one, in the file's order), not at
        # the mapping holding it (found by hunts).
        locate(doc_uri, (*located, unknown[0]), specs.display(doc_uri), key=True)
        if unknown
        else locate(doc_uri, located, specs.display(doc_uri)),
        code="openapi",
    )


# The keywords that refuse a key nothing else in the schema allows (an unknown field), and where
# their message lists the keys: before "do(es) not match any of the regexes" (additionalProperties
# beside patternProperties '^x-'), or inside "(... was/were unexpected)".
_UNKNOWN_KEY_KEYWORDS = {"additionalProperties", "unevaluatedProperties"}
_KEY_LIST = re.compile(r"^(.*) do(?:es)? not match any of the regexes: |\((.*) (?:was|were) unexpected\)", re.S)


def _unknown_keys(error: Any) -> list[str]:
    """The keys of the failing mapping that an unknown-key ``error`` names, in the mapping's
    order (which is the file's); [] for any other error."""
    instance = getattr(error, "instance", None)
    if getattr(error, "validator", None) not in _UNKNOWN_KEY_KEYWORDS or not isinstance(instance, dict):
        return []
    m = _KEY_LIST.search(str(error.message))
    if m is None:
        return []
    listed = m.group(1) if m.group(1) is not None else m.group(2)
    # The validator writes each key with repr(): match the mapping's keys against that list.
    return [k for k in instance if isinstance(k, str) and re.search(rf"(?:^|, ){re.escape(repr(k))}(?:,|$)", listed)]


def _explained(error: Any) -> list[Any]:
    """``error``, or for a oneOf/anyOf that no alternative matched, the unknown-key errors of the
    alternative that only they fail (3.0's "Response or Reference": the Response alternative
    fails on nothing but the unknown key). The validator reported such a key as "{...} is not
    valid under any of the given schemas" at the mapping holding it, or at an ancestor."""
    explanation = _only_unknown_keys(error)
    return explanation if explanation else [error]


def _only_unknown_keys(error: Any) -> list[Any] | None:
    """The unknown-key errors that are the whole of ``error``, or None when something else fails."""
    if _unknown_keys(error):
        return [error]
    context = getattr(error, "context", None)
    if getattr(error, "validator", None) not in ("oneOf", "anyOf") or not context:
        return None
    branches: dict[Any, list[Any]] = {}
    for sub in context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    best: list[Any] | None = None
    for subs in branches.values():
        found: list[Any] = []
        for sub in subs:
            part = _only_unknown_keys(sub)
            if part is None:
                break
            found.extend(part)
        else:
            if best is None or len(found) < len(best):
                best = found  # of several alternatives, the one with the fewest unknown keys
    return best


def _path_from_message(message: str) -> tuple[str, ...]:
    for pattern, tail in _MESSAGE_PATHS:
        m = pattern.match(message)
        if m:
            return ("paths", m.group(2), m.group(1), *tail)
    return ()


def _report_broken_file(specs: SpecSet, ref: str, diags: Diagnostics) -> bool:
    target = urldefrag(urljoin(specs.root_uri, ref))[0]
    if not target.startswith("file://"):
        return False
    try:
        specs.document(target)
    except YamlLoadError as exc:
        if exc.position.line:  # readable but broken (a missing file has no line)
            diags.error(exc.message, exc.position, code="openapi")
            return True
    return False


_MISSING = object()


def _at(doc: Any, path: tuple) -> Any:
    node = doc
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node


def _where(specs: SpecSet, path: tuple, instance: Any) -> tuple[str, tuple] | None:
    """The document and full data path of an error whose path the validator gives relative to
    a sub-schema or to a $ref's target (a parameter's schema, a schema in another file): where
    the root has nothing at ``path``, the one place in any document that ends with ``path`` and
    holds ``instance``. None: keep the root and ``path``."""
    if not path or _at(specs.root, path) is not _MISSING:
        return None
    matches: list[tuple[str, tuple]] = []
    for uri, doc in specs.documents.items():
        stack: list[tuple[Any, tuple]] = [(doc, ())]
        while stack and len(matches) < 2:
            node, at = stack.pop()
            if at[-len(path) :] == path and node == instance:
                matches.append((uri, at))
            if isinstance(node, dict):
                stack.extend((v, (*at, k)) for k, v in node.items())
            elif isinstance(node, list):
                stack.extend((v, (*at, i)) for i, v in enumerate(node))
    return matches[0] if len(matches) == 1 else None


def _find_ref_cycle(specs: SpecSet) -> tuple[tuple, str, str] | None:
    """The data path, text and problem of the first ``$ref`` of the root document whose chain
    of ``$ref``s comes back to itself or does not end (iterative: specs nest deeply)."""
    stack: list[tuple[Any, tuple]] = [(specs.root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            value = node.get("$ref")
            if isinstance(value, str):
                try:
                    specs.resolve(value, specs.root_uri)
                except ValueError as exc:
                    return path, value, str(exc)
                except KeyError:
                    pass
            stack.extend((v, (*path, k)) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))
    return None


def _find_ref(doc: Any, ref: str) -> tuple[tuple, str] | None:
    """The data path and text of the first ``$ref`` in ``doc`` that is ``ref`` (the resolver
    reports a local reference as its bare pointer: ``/components/x`` for ``#/components/x``);
    iterative: specs nest deeply."""
    pointer = ref.split("#", 1)[1] if "#" in ref else ref
    stack: list[tuple[Any, tuple]] = [(doc, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            value = node.get("$ref")
            if isinstance(value, str) and (value == ref or ("#" in value and value.split("#", 1)[1] == pointer)):
                return path, value
            stack.extend((v, (*path, k)) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))
    return None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # The referencing library appends the whole document ("... does not exist within {...}").
    text = text.split(" within {", 1)[0]
    name = type(exc).__name__
    if any(word in name for word in ("Unresolvable", "Resolution", "Resource", "Pointer", "RefResolution")):
        text = f"cannot resolve $ref {text}"
    return text[:300]
