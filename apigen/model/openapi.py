"""Normalise OpenAPI 2.0 / 3.0 / 3.1 documents into :class:`Operation` lists.

Only what the gateway needs is extracted: methods, paths, operationIds, tags, parameters and
security requirements. ``$ref``s (local and relative-file) are followed with cycle detection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from apigen.diagnostics import Diagnostics, Position
from apigen.load.spec_loader import SpecSet, locate, pointer_to_path
from apigen.model.types import Operation, Parameter
from apigen.render.quoting import MAX_TOKEN_BYTES, token_bytes

_METHODS_V3 = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_METHODS_V2 = ("get", "put", "post", "delete", "options", "head", "patch")


@dataclass(frozen=True)
class SpecSummary:
    version: str  # "2.0" | "3.0" | "3.1"
    base_path: str  # from servers[0] / basePath, normalised: "" or "/x/y"
    operations: tuple[Operation, ...]
    security_schemes: Mapping[str, Any]
    security: tuple[Mapping[str, tuple[str, ...]], ...]


def spec_version(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    if str(doc.get("swagger", "")).startswith("2."):
        return "2.0"
    version = str(doc.get("openapi", ""))
    if version.startswith("3.0"):
        return "3.0"
    if version.startswith("3.1"):
        return "3.1"
    return None


def normalise_base_path(path: str) -> str:
    """``/x/y`` or ``""``, percent-decoded as spec paths are: nginx routes on the decoded URI,
    so an encoded base path (``/caf%C3%A9``) must be written decoded in the locations."""
    path = unquote(path)
    return "/" + path.strip("/") if path.strip("/") else ""


def base_path_problem(path: str, raw: str = "") -> str | None:
    """Why a (normalised) base path cannot be routed, or None: nginx resolves dot segments and
    merges slashes before routing, so `/./v1` or `/api//v2` would never match. ``raw`` is the
    base path as written, before percent-decoding."""
    bad = control_character(path)
    if bad:
        return f"has a {bad}"
    if _ENCODED_SEPARATOR.search(raw) or "\\" in path:
        # Decoded, `/a%2Fb` became the two segments `/a/b`, and `%5C` a backslash, which the
        # gateway answers 400 raw or encoded: the API's URLs as written got the gateway's 400
        # (every one of them for a backslash), without a word (found by a hunt).
        return (
            f"is written {raw!r}, with a backslash or an encoded slash (%2F/%5C): nginx decodes it into "
            "a separator, and the gateway answers such requests 400; it cannot be routed"
        )
    if "{" in path or "}" in path:
        # Decoded, `%7Btenant%7D` read as a template parameter: the API answered under any first
        # segment (found by a hunt). Server variables are replaced before this.
        return "has a brace (an encoded %7B/%7D): a literal brace cannot be routed"
    found = _unnormalised(path.split("/")[1:])
    if found == "dot":
        return "has a dot segment (nginx resolves those before routing: give the resolved path)"
    if found == "empty":
        return "has an empty segment (nginx merges slashes before routing)"
    return None


def _unnormalised(segments: list[str]) -> str | None:
    """Which segments nginx would change before routing ("dot" or "empty"), or None."""
    if any(seg in (".", "..") for seg in segments):
        return "dot"
    if any(seg == "" for seg in segments):
        return "empty"
    return None


def base_path_warning(raw: str) -> str | None:
    """Why a base path's URLs as written are not routed although the API is reachable, or None:
    a raw `;` gets the gateway's 400, `%3B` is served (as for a spec path, a warning)."""
    if ";" in raw:
        return "has a raw `;`: the gateway answers a raw `;` in a path 400 (docs/security.md); clients must send it as %3B"
    return None


def _server_base_path(doc: Mapping[str, Any], version: str) -> str:
    """The base path of the document as written (not decoded): basePath, or the path of the
    first server's URL with its variables' defaults."""
    if version == "2.0":
        return str(doc.get("basePath") or "")
    servers = doc.get("servers") or []
    if not servers or not isinstance(servers[0], dict):
        return ""
    url = str(servers[0].get("url", ""))
    variables = servers[0].get("variables") or {}
    # Server variables ({basePath}) take their declared defaults.
    url = re.sub(
        r"\{([^}]*)\}",
        lambda m: str((variables.get(m.group(1)) or {}).get("default", "")),
        url,
    )
    return url_path(url)


def url_path(url: str) -> str:
    """The path of a server URL: after the host for `scheme://host/x` and scheme-relative
    `//host/x`, the URL itself when relative; no query or fragment. Plain string work: urlparse
    raises on hosts such as `[` that a hostile document can hold."""
    absolute = _SCHEME.match(url)
    if absolute or url.startswith("//"):
        rest = url[absolute.end() :] if absolute else url[2:]
        url = "/" + rest.split("/", 1)[1] if "/" in rest else ""
    return url.split("?", 1)[0].split("#", 1)[0]


_SCHEME = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*)?://")


def _security(value: Any) -> tuple[Mapping[str, tuple[str, ...]], ...] | None:
    """The requirements, or None when ``value`` is not a list of mappings of lists: never read
    as "no requirement" (a mapping read that way made an operation public; found by a hunt)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(r, dict) and all(isinstance(v, list) for v in r.values()) for r in value
    ):
        return None
    return tuple({str(k): tuple(str(s) for s in v) for k, v in r.items()} for r in value)


# Paths, operationIds and base paths reach nginx locations, map keys and request headers (the
# operation header): a control character there could split a header line or never match a
# request, so it is rejected rather than escaped.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_ENCODED_BRACE = re.compile(r"%7[BbDd]")
# An encoded slash or backslash in a literal segment: decoded, it splits the segment in two (the
# documented URL got the gateway's 400, an undeclared one was served; found by a hunt).
_ENCODED_SEPARATOR = re.compile(r"%2[Ff]|%5[Cc]")


def path_problem(path_key: str) -> str | None:
    """Why a path (a spec's, or one of add_operations) cannot be routed at all, or None."""
    if _ENCODED_BRACE.search(path_key):
        # Decoded, `%7Bid%7D` would read as the template `{id}` and match any segment.
        return "has an encoded brace (%7B/%7D): a literal brace cannot be routed"
    if _ENCODED_SEPARATOR.search(path_key.split("#", 1)[0]):
        return (
            "has an encoded slash or backslash (%2F/%5C): nginx decodes it into a separator, and the "
            "gateway answers such requests 400; it cannot be routed"
        )
    return None


def unroutable_reason(path_key: str) -> str | None:
    """Why nginx never routes a request to the spec path ``path_key``, or None: it compares the
    normalised URI (no query, dot segments resolved, slashes merged)."""
    path_key = path_key.split("#", 1)[0]  # a fragment is dropped (never sent by clients)
    if "?" in path_key:
        return "`?` starts the query, which is not part of the path routes compare"
    if ";" in path_key:
        # The path-confusion check refuses a raw ";" (servlet path parameters; a review noticed
        # such paths had become unreachable without a word).
        return "the gateway answers a raw `;` in a path 400 (docs/security.md); clients must send it as %3B"
    if "\\" in path_key:
        # Refused like `;` (some servers read it as `/`); such a path built without a word (a hunt).
        return "the gateway answers a backslash in a path 400 (docs/security.md)"
    segments = unquote(path_key).split("/")[1:]
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash: a path of its own, not an empty segment
    found = _unnormalised(segments)
    if found == "dot":
        return "nginx resolves dot segments before routing"
    if found == "empty":
        return "nginx merges slashes before routing"
    return None


def control_character(text: str) -> str | None:
    """A description of the first control character in ``text``, or None."""
    m = _CONTROL.search(text)
    return f"control character {m.group()!r} at offset {m.start()}" if m else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "root"


def _param_key(p: Parameter) -> tuple[str, str]:
    """What makes a parameter the same one: its name and location, a header's name in any case
    (RFC 9110; an operation's `x-trace` did not replace a path item's `X-Trace`, and both were
    enforced; found by a hunt)."""
    return (p.name.lower() if p.location == "header" else p.name, p.location)


def summarise_spec(specs: SpecSet, api_name: str, diags: Diagnostics, base_path_given: bool = False) -> SpecSummary | None:
    """The operations of one document. ``base_path_given``: the policy sets the API's base path,
    so the document's servers are not read for it (their problems would block the override the
    hint suggests)."""
    doc = specs.root
    version = spec_version(doc)
    root_display = specs.display(specs.root_uri)
    if version is None:
        diags.error(
            'not an OpenAPI document: expected `openapi: 3.0.x`/`3.1.x` or `swagger: "2.0"` at the top',
            Position(root_display, 1, 1),
        )
        return None
    methods = _METHODS_V2 if version == "2.0" else _METHODS_V3
    schemes_key = "securityDefinitions" if version == "2.0" else None
    if schemes_key:
        schemes = doc.get(schemes_key) or {}
    else:
        schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    operations: list[Operation] = []
    seen_ids: dict[str, str] = {}
    declared = _declared_operation_ids(specs, methods)
    paths = doc.get("paths") or {}
    for path_key, item in paths.items():
        if not str(path_key).startswith("/"):
            continue  # `x-...`: an extension of the Paths Object (the validator refuses others)
        item_path: tuple = ("paths", path_key)
        # Checked decoded too: the route matches nginx's decoded URI, so `%0a` is a newline there.
        bad = control_character(str(path_key)) or control_character(unquote(str(path_key)))
        if bad:
            diags.error(f"path {path_key!r} has a {bad}", locate(specs.root_uri, item_path, root_display, key=True))
            continue
        bad = path_problem(str(path_key))
        if bad:
            diags.error(f"path {path_key!r} {bad}", locate(specs.root_uri, item_path, root_display, key=True))
            continue
        unroutable = unroutable_reason(str(path_key))
        if unroutable:
            diags.warning(
                f"path {path_key!r} is never matched: {unroutable}",
                locate(specs.root_uri, item_path, root_display, key=True),
                code="unroutable-path",
            )
        item_uri = specs.root_uri
        # Fields next to a path item's $ref (3.0 and 2.0 allow them; the local one wins where both
        # have a field): they were dropped, and their operations answered 405 (found by a hunt).
        local: dict = {}
        local_path = item_path
        if isinstance(item, dict) and isinstance(item.get("$ref"), str):
            local = item
            # A path item in another file (or elsewhere in this one): positions are found there.
            try:
                item, item_uri, pointer = specs.resolve(item["$ref"], specs.root_uri)
            except (KeyError, ValueError) as exc:
                diags.error(str(exc).strip("'\""), locate(specs.root_uri, item_path, root_display))
                continue
            item_path = pointer_to_path(pointer)
        if not isinstance(item, dict):
            continue
        item_display = specs.display(item_uri)
        if version != "2.0":
            root_servers = specs.root.get("servers") if isinstance(specs.root, dict) else None
            # Path- and operation-level servers were ignored without a word (found by a hunt).
            for where, node, uri, display in [
                (item_path, item, item_uri, item_display),
                (local_path, local, specs.root_uri, root_display),
                *(((*item_path, m), item.get(m), item_uri, item_display) for m in methods),
                *(((*local_path, m), local.get(m), specs.root_uri, root_display) for m in methods),
            ]:
                # The same servers as the document's (Twilio repeats them on every path) change
                # nothing: no warning (120 of them cost Twilio's build 0.5 s of positions).
                if isinstance(node, dict) and node.get("servers") and not _same_servers(node["servers"], root_servers):
                    diags.warning(
                        f"`servers` of {path_key!r}{' ' + where[-1].upper() if where[-1] in methods else ''} are not used: "
                        "the gateway routes it under the API's base path",
                        locate(uri, (*where, "servers"), display, key=True),
                        code="servers-override-ignored",
                    )
        shared = _parameters(specs, item.get("parameters"), item_uri, item_path, diags, item_display)
        if "parameters" in local:
            by_key = {_param_key(p): p for p in shared}
            for p in _parameters(specs, local["parameters"], specs.root_uri, local_path, diags, root_display):
                by_key[_param_key(p)] = p
            shared = list(by_key.values())
        for method in methods:
            op, op_uri, op_display, op_item_path = item.get(method), item_uri, item_display, item_path
            if isinstance(local.get(method), dict):
                op, op_uri, op_display, op_item_path = local[method], specs.root_uri, root_display, local_path
            if not isinstance(op, dict):
                continue
            op_path = (*op_item_path, method)
            own = _parameters(specs, op.get("parameters"), op_uri, op_path, diags, op_display)
            merged = {_param_key(p): p for p in shared}
            merged.update({_param_key(p): p for p in own})
            for prm in merged.values():
                if prm.location == "path" and prm.raw.get("style") == "matrix":
                    diags.warning(
                        f"path parameter {prm.name!r} of {method.upper()} {path_key} has style matrix (`;{prm.name}=...`): "
                        "the gateway answers a raw `;` in a path 400 (docs/security.md), so only %3B-encoded values arrive",
                        locate(op_uri, op_path, op_display, key=True),
                        code="unroutable-path",
                    )
            op_id = op.get("operationId")
            generated = not isinstance(op_id, str) or not op_id
            if generated:
                # Made-up ids must not collide with each other (`/a/b` and `/a_b`) nor with a
                # declared id anywhere in the document.
                base = op_id = f"{method}_{_slug(path_key)}"
                n = 2
                while op_id in seen_ids or op_id in declared:
                    op_id, n = f"{base}_{n}", n + 1
            bad = control_character(str(op_id))
            if bad:
                diags.error(
                    f"operationId {op_id!r} has a {bad}", locate(op_uri, (*op_path, "operationId"), op_display)
                )
                continue
            if token_bytes(f"{api_name}.{op_id}", variables=True) > MAX_TOKEN_BYTES:
                diags.error(
                    f"operationId {str(op_id)[:80]}... is too long for an nginx configuration token",
                    locate(op_uri, (*op_path, "operationId"), op_display),
                )
                continue
            if op_id in seen_ids:
                diags.error(
                    f"duplicate operationId {op_id!r} in API {api_name!r} (also {seen_ids[op_id]})",
                    locate(op_uri, (*op_path, "operationId"), op_display),
                )
                continue
            seen_ids[op_id] = f"{method.upper()} {path_key}"
            security = _security(op["security"]) if "security" in op else None
            if "security" in op and security is None:
                diags.error(
                    "security must be a list of requirements (`- scheme: [scopes]`)",
                    locate(op_uri, (*op_path, "security"), op_display),
                )
                continue
            tags = tuple(str(t) for t in op.get("tags") or ())
            operations.append(
                Operation(
                    api=api_name,
                    operation_id=str(op_id),
                    method=method.upper(),
                    path=path_key,
                    # nginx matches locations against the decoded URI: decode the spec's %XX too.
                    route_path=unquote(path_key.split("#", 1)[0]),
                    tags=tags,
                    security=security,
                    parameters=tuple(merged.values()),
                    raw=op,
                    spec_uri=op_uri,
                    spec_display=op_display,
                    spec_path=op_path,
                    generated_id=generated,
                )
            )
    document_security = _security(doc.get("security"))
    if document_security is None:
        diags.error("security must be a list of requirements (`- scheme: [scopes]`)", locate(specs.root_uri, ("security",), root_display))
        return None
    raw_base_path = _server_base_path(doc, version)
    base_path = normalise_base_path(raw_base_path)
    servers = doc.get("servers") if version != "2.0" and not base_path_given else None
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        defined = servers[0].get("variables") or {}
        for name in re.findall(r"\{([^}]*)\}", str(servers[0].get("url", ""))):
            if name not in defined:
                diags.warning(
                    f"server variable {{{name}}} is not defined in `variables`: the base path reads it as empty",
                    locate(specs.root_uri, ("servers", 0, "url"), root_display),
                    hint="define it with a default, or set base_path on the API in the policy",
                    code="undefined-server-variable",
                )
    bad = None if base_path_given else base_path_problem(base_path, raw_base_path)
    where = ("basePath",) if version == "2.0" else ("servers", 0, "url")
    if bad:
        diags.error(
            f"base path {base_path!r} {bad}",
            locate(specs.root_uri, where, root_display),
            hint="set base_path on the API in the policy to override the document's",
        )
        return None
    unrouted = None if base_path_given else base_path_warning(raw_base_path)
    if unrouted:
        diags.warning(
            f"base path {raw_base_path!r} {unrouted}",
            locate(specs.root_uri, where, root_display),
            hint="set base_path on the API in the policy to override the document's",
            code="unroutable-path",
        )
    return SpecSummary(
        version=version,
        base_path=base_path,
        operations=tuple(operations),
        security_schemes=schemes if isinstance(schemes, dict) else {},
        security=document_security,
    )


def _declared_operation_ids(specs: SpecSet, methods: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for key, item in (specs.root.get("paths") or {}).items():
        if not str(key).startswith("/"):
            continue  # an extension, not a path
        local = item if isinstance(item, dict) else {}
        try:
            item, _ = specs.deref(item, specs.root_uri)
        except (KeyError, ValueError):
            continue  # reported where the operations are read
        if isinstance(item, dict):
            for method in methods:
                op = local.get(method) if isinstance(local.get(method), dict) else item.get(method)
                if isinstance(op, dict) and isinstance(op.get("operationId"), str) and op["operationId"]:
                    out.add(op["operationId"])
    return out
# Swagger 2.0 non-body parameters carry their schema keywords inline.
_SWAGGER2_SCHEMA_KEYS = (
    "type", "format", "enum", "pattern", "items", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "multipleOf",
)  # fmt: skip


def _parameters(
    specs: SpecSet, value: Any, uri: str, where: tuple, diags: Diagnostics, display: str
) -> list[Parameter]:
    out: list[Parameter] = []
    for index, raw in enumerate(value or []):
        try:
            param, param_uri = specs.deref(raw, uri)
        except (KeyError, ValueError) as exc:
            diags.error(str(exc).strip("'\""), locate(uri, (*where, "parameters", index), display))
            continue
        if not isinstance(param, dict) or "name" not in param or "in" not in param:
            continue
        schema = (
            param.get("schema") if "schema" in param else {k: v for k, v in param.items() if k in _SWAGGER2_SCHEMA_KEYS}
        )
        out.append(
            Parameter(
                name=str(param["name"]),
                location=str(param["in"]),
                required=bool(param.get("required", param["in"] == "path")),
                schema=schema if isinstance(schema, dict) else {},
                raw=param,
                spec_uri=param_uri,
            )
        )
    return out


def _same_servers(these: Any, document: Any) -> bool:
    """Whether path- or operation-level ``servers`` say what the document's say (descriptions
    aside; a document without ``servers`` means ``/``)."""

    def key(servers: Any) -> list[str] | None:
        if not isinstance(servers, list) or not all(isinstance(s, dict) for s in servers):
            return None
        return sorted(json.dumps({k: v for k, v in s.items() if k != "description"}, sort_keys=True) for s in servers)

    mine = key(these)
    return mine is not None and mine == key(document or [{"url": "/"}])
