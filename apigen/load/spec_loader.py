"""Fast loading of OpenAPI documents and of the files their ``$ref``s point to.

Specs are big (the corpus has 1.5 MiB documents), so they are parsed with the fast loaders
(``orjson``/``json`` and libyaml through PyYAML); positions are recovered only when an error must
be reported (:func:`locate`), by re-reading the file with the position-keeping loader.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

import yaml

from apigen.diagnostics import Position
from apigen.load.yaml_positions import (
    MAX_NODES,
    PositionMap,
    YamlLoadError,
    load_yaml_with_positions,
    read_text,
)

try:  # orjson is several times faster on multi-megabyte documents; json is the fallback.
    import orjson

    def _json_loads(text: str) -> Any:
        return orjson.loads(text)

except ImportError:  # pragma: no cover - depends on the environment
    _json_loads = json.loads

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecYamlLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """libyaml-backed safe loader; timestamps stay strings (JSON Schema has no dates)."""


_SpecYamlLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        # `200:` is an int in YAML; OpenAPI response codes and all other keys are strings.
        out[key if isinstance(key, str) else str(key).lower() if isinstance(key, bool) else str(key)] = (
            loader.construct_object(value_node, deep=True)
        )
    return out


_SpecYamlLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


class SpecLoadError(YamlLoadError):
    pass


def parse_document(text: str, display: str) -> Any:
    """Parse JSON or YAML text quickly; on a syntax error, report it with its position."""
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            return _json_loads(text)
        except ValueError:
            pass  # fall through: YAML flow style, or broken JSON located below
    try:
        return yaml.load(text, Loader=_SpecYamlLoader)
    except yaml.YAMLError:
        # Re-parse with the position-keeping loader to get a precise message and location.
        load_yaml_with_positions(text, display)
        raise SpecLoadError("invalid YAML or JSON", Position(display, 1, 1)) from None
    except RecursionError:
        raise SpecLoadError("document is nested too deeply", Position(display, 1, 1)) from None


@dataclass
class SpecSet:
    """A root OpenAPI document and every document reached through ``$ref``s, by file URI."""

    root_uri: str
    display_base: Path
    documents: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Any:
        return self.documents[self.root_uri]

    def display(self, uri: str) -> str:
        """A path for messages: relative to the policy file's directory when possible."""
        path = Path(unquote(uri.removeprefix("file://")))
        try:
            return str(path.relative_to(self.display_base))
        except ValueError:
            return str(path)

    def document(self, uri: str) -> Any:
        if uri not in self.documents:
            path = Path(unquote(uri.removeprefix("file://")))
            text = read_text(path, self.display(uri))
            self.documents[uri] = parse_document(text, self.display(uri))
        return self.documents[uri]

    def resolve(self, ref: str, base_uri: str, *, max_hops: int = 64) -> tuple[Any, str, str]:
        """Follow ``ref`` (and any ``$ref`` chain it lands on) from a document at ``base_uri``.

        Returns ``(value, document uri, json pointer)``. Raises ``KeyError`` with a message for a
        dangling reference and ``ValueError`` for a cycle.
        """
        seen: set[str] = set()
        uri, pointer = base_uri, ""
        for _ in range(max_hops):
            target = urljoin(uri, ref)
            doc_uri, fragment = urldefrag(target)
            if target in seen:
                raise ValueError(f"$ref cycle through {ref}")
            seen.add(target)
            if not doc_uri.startswith("file://"):
                raise KeyError(f"only local and relative-file $refs are supported, not {ref}")
            try:
                doc = self.document(doc_uri)
            except YamlLoadError as exc:
                raise KeyError(f"$ref {ref}: {exc.message}") from None
            value = walk_pointer(doc, fragment, ref)
            uri, pointer = doc_uri, fragment
            if isinstance(value, dict) and isinstance(value.get("$ref"), str):
                ref = value["$ref"]
                continue
            return value, uri, pointer
        raise ValueError(f"$ref chain longer than {max_hops} hops at {ref}")

    def deref(self, value: Any, base_uri: str) -> tuple[Any, str]:
        """``value`` itself, or what its ``$ref`` points to; with the uri it came from."""
        if isinstance(value, dict) and isinstance(value.get("$ref"), str):
            resolved, uri, _ = self.resolve(value["$ref"], base_uri)
            return resolved, uri
        return value, base_uri


def walk_pointer(doc: Any, fragment: str, ref: str) -> Any:
    value = doc
    if not fragment:
        return value
    if not fragment.startswith("/"):
        raise KeyError(f"$ref {ref}: only JSON-pointer fragments are supported")
    for raw in fragment[1:].split("/"):
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise KeyError(f"$ref {ref} points to nothing (no {token!r})")
    return value


def load_spec(path: Path, display_base: Path) -> SpecSet:
    uri = path.resolve().as_uri()
    specs = SpecSet(root_uri=uri, display_base=display_base)
    specs.document(uri)
    return specs


@functools.lru_cache(maxsize=16)
def _positions(path: str, display: str) -> PositionMap:
    text = read_text(Path(path), display)
    try:
        return _fast_positions(text, display)
    except (yaml.YAMLError, RecursionError, YamlLoadError):
        pass  # libyaml disagrees (YAML 1.2-only syntax?): the exact, slow loader decides
    try:
        _, positions = load_yaml_with_positions(text, display)
    except YamlLoadError:
        return PositionMap(display)
    return positions


def _fast_positions(text: str, display: str) -> PositionMap:
    """Positions from libyaml's node tree (C composer): ~20x faster than ruamel's round trip on
    the corpus' 1.5 MiB documents, which matters because warnings locate spec lines on the happy path."""
    root = yaml.compose(text, Loader=_BaseLoader)
    positions = PositionMap(display)
    if root is None:
        return positions
    budget = MAX_NODES
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        budget -= 1
        if budget < 0:
            raise YamlLoadError("document too large to locate positions in", Position(display, 1, 1))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                child = (*path, key)
                positions.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                positions.values[child] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*path, i)
                positions.values[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
                stack.append((item, child))
    return positions


def locate(uri: str, data_path: Sequence[Hashable], display: str, *, key: bool = False) -> Position:
    """The position of ``data_path`` in the document at ``uri`` (slow: only for messages)."""
    path = unquote(uri.removeprefix("file://"))
    return _positions(path, display).at(tuple(data_path), key=key)


def pointer_to_path(pointer: str) -> tuple[str, ...]:
    if not pointer:
        return ()
    return tuple(unquote(p).replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/"))
