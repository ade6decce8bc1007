"""Parse a generated bundle back with crossplane and walk its directives in context.

``strict=False`` on purpose: strict mode reports the entries of ``map``, ``split_clients`` and
``geo`` blocks as unknown directives. Unknown names are caught later by the target check
(:mod:`apigen.verify.context_check`), which knows every nginx, njs and Plus directive.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import crossplane

from apigen.diagnostics import Diagnostic, Position, Severity

from .crossplane_table import extend_crossplane_directives
from .fast_lex import crossplane_tokens


@dataclass(frozen=True)
class ConfigError:
    """A problem in a bundle file; ``file`` is relative to the bundle directory when inside it."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"

    def to_diagnostic(self, code: str = "") -> Diagnostic:
        return Diagnostic(Severity.ERROR, self.message, Position(self.file, self.line or 0), code=code)


@dataclass
class ParseResult:
    """crossplane's payload (file paths rewritten bundle-relative) and its errors."""

    payload: dict[str, Any]
    errors: list[ConfigError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class DirectiveRef(NamedTuple):
    file: str
    line: int
    # Enclosing blocks, outermost first, e.g. ("http", "server api.example.com", "location /v1").
    context: tuple[str, ...]
    directive: str
    args: tuple[str, ...]


def relative_to_bundle(path: str, bundle_dir: Path) -> str:
    """Bundle-relative POSIX path if ``path`` is inside the bundle, else ``path`` unchanged."""
    try:
        return Path(path).resolve().relative_to(bundle_dir).as_posix()
    except ValueError:
        return path


def _clean_message(message: str, abs_file: str, line: int | None, bundle_dir: Path) -> str:
    # crossplane appends " in /abs/file:line"; file and line are reported separately. After an
    # `include` in the same block, crossplane 0.5.8 names the included file there instead (its
    # parser rebinds `fname` in the include loop) while the error's own file is right: drop the
    # suffix whatever file it names (found by a hunt: a misplaced directive in api_gateway.conf
    # was reported "... not allowed here in api_json_errors.conf:83").
    suffix = f" in {abs_file}:{line}"
    if message.endswith(suffix):
        message = message.removesuffix(suffix)
    elif line is not None:
        message = re.sub(rf" in [^\n]+:{line}$", "", message)
    return message.replace(f"{bundle_dir}{os.sep}", "")


def parse_bundle(bundle_dir: Path, main: str = "nginx.conf") -> ParseResult:
    """Parse ``bundle_dir/main`` and every file it includes (relative includes resolve against the
    main file's directory, as nginx does with the -c file's directory)."""
    extend_crossplane_directives()
    bundle = Path(bundle_dir).resolve()
    main_path = bundle / main
    if not main_path.is_file():
        error = ConfigError(main, None, "main configuration file not found")
        return ParseResult({"status": "failed", "errors": [], "config": []}, [error])

    from apigen.verify.localize import checkable

    # crossplane's parser and checks, with a faster tokenizer that yields its lexer's tokens.
    with checkable(bundle, main) as parsed_dir, crossplane_tokens():  # include_dir paths point into the copy
        payload: dict[str, Any] = crossplane.parse(
            str(parsed_dir / main), check_ctx=True, check_args=True, strict=False, catch_errors=True
        )
        return _relative_result(payload, parsed_dir)


def _relative_result(payload: dict[str, Any], bundle: Path) -> ParseResult:
    errors: list[ConfigError] = []
    for err in payload["errors"]:
        rel = relative_to_bundle(err["file"], bundle)
        message = _clean_message(err["error"], err["file"], err["line"], bundle)
        errors.append(ConfigError(rel, err["line"], message))
        err["file"], err["error"] = rel, message
    for conf in payload["config"]:
        abs_file = conf["file"]
        conf["file"] = relative_to_bundle(abs_file, bundle)
        for err in conf["errors"]:
            err["error"] = _clean_message(err["error"], abs_file, err["line"], bundle)
    return ParseResult(payload, errors)


def block_label(stmt: Mapping[str, Any]) -> str:
    """How a block shows in a context path. A server is named by its first server_name (or listen),
    which is what tells servers apart; other blocks by their arguments."""
    name = stmt["directive"]
    args = list(stmt.get("args") or [])
    if name == "server" and not args:
        children = stmt.get("block") or []
        for wanted in ("server_name", "listen"):
            for child in children:
                if child["directive"] == wanted and child.get("args"):
                    return f"server {child['args'][0]}"
    return " ".join([name, *args])


def iter_directives(payload: Mapping[str, Any]) -> Iterator[DirectiveRef]:
    """Every directive of the main file in document order, descending into blocks and includes.

    A file included from several places is visited once per include, in that include's context.
    """
    configs = payload.get("config") or []
    if not configs:
        return

    def walk(index: int, context: tuple[str, ...], active: frozenset[int]) -> Iterator[DirectiveRef]:
        conf = configs[index]
        yield from walk_block(conf["parsed"], conf["file"], context, active | {index})

    def walk_block(
        stmts: list[Mapping[str, Any]], file: str, context: tuple[str, ...], active: frozenset[int]
    ) -> Iterator[DirectiveRef]:
        for stmt in stmts:
            name = stmt["directive"]
            yield DirectiveRef(file, stmt["line"], context, name, tuple(stmt.get("args") or ()))
            if "block" in stmt:
                yield from walk_block(stmt["block"], file, (*context, block_label(stmt)), active)
            for inc in stmt.get("includes") or ():
                if inc not in active:  # nginx rejects include loops; don't recurse forever here
                    yield from walk(inc, context, active)

    yield from walk(0, (), frozenset())
