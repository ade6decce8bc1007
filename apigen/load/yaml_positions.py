"""Position-keeping YAML loading (ruamel.yaml round-trip mode).

Slow but exact: used for the policy file, and for a spec only when an error has to be located.
The result is plain ``dict``/``list`` data plus a :class:`PositionMap` from data paths to
``(line, col)``; later stages never see ruamel types.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from apigen.diagnostics import Position
from apigen.load.files import FileTooLargeError, read_file

DataPath = tuple[Hashable, ...]

# Aliases let a tiny document expand into billions of nodes; the walk stops well before that.
MAX_NODES = 2_000_000
# The largest real specs are a few MiB; a bigger source is a mistake or an attack on memory.
MAX_SOURCE_BYTES = 20 * 1024 * 1024
# Deeper flow nesting (`[[[[...`) overflows the parsers' recursion: libyaml's C composer crashes
# the process, so the text is checked before any parser sees it.
MAX_FLOW_DEPTH = 256
_FLOW = re.compile(r"[\[\]{}]|\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'")


def check_flow_depth(text: str, file: str) -> None:
    """Raise YamlLoadError at the first bracket nested deeper than MAX_FLOW_DEPTH. Quoted strings
    are skipped; a bracket inside a plain scalar is counted too (harmless over-estimate)."""
    depth = 0
    for m in _FLOW.finditer(text):
        ch = m.group()
        if ch in "[{":
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                line = text.count("\n", 0, m.start()) + 1
                col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
                raise YamlLoadError(f"nested more than {MAX_FLOW_DEPTH} levels deep", Position(file, line, col))
        elif ch in "]}":
            depth = max(0, depth - 1)


class YamlLoadError(Exception):
    def __init__(self, message: str, position: Position) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass
class PositionMap:
    """Where each value (and each mapping key) of a document starts. Lines/cols are 1-based."""

    file: str
    values: dict[DataPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[DataPath, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Sequence[Hashable], *, key: bool = False) -> Position:
        """The position of ``path``, or of its closest located ancestor."""
        path = tuple(path)
        table = self.keys if key else self.values
        while True:
            if path in table:
                line, col = table[path]
                return Position(self.file, line, col)
            if key and path in self.values:
                line, col = self.values[path]
                return Position(self.file, line, col)
            if not path:
                return Position(self.file, 1, 1)
            path = path[:-1]


def _plain(node: Any, path: DataPath, pos: PositionMap, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlLoadError(f"document expands to more than {MAX_NODES} nodes (alias bomb?)", pos.at(path))
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            if k is None or isinstance(k, (list, dict, CommentedMap, CommentedSeq)):
                # `~:` or `[a]:` would become the name "None" or "['a']" below.
                try:
                    line, col = node.lc.key(k)
                    where = Position(pos.file, line + 1, col + 1)
                except (KeyError, TypeError, AttributeError):
                    where = pos.at(path)
                raise YamlLoadError("a mapping key must be a name (text or a number), not null or a collection", where)
            # YAML 1.2 reads `200:` as an int; OpenAPI and our policy keys are strings.
            key = _join_surrogates(str(k), path, pos)
            child = (*path, key)
            try:
                kl, kc = node.lc.key(k)
                vl, vc = node.lc.value(k)
                pos.keys[child] = (kl + 1, kc + 1)
                pos.values[child] = (vl + 1, vc + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            out[key] = _plain(v, child, pos, budget)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, v in enumerate(node):
            child = (*path, i)
            try:
                vl, vc = node.lc.item(i)
                pos.values[child] = (vl + 1, vc + 1)
            except (KeyError, TypeError, AttributeError, IndexError):
                pass
            items.append(_plain(v, child, pos, budget))
        return items
    if isinstance(node, str):
        return _join_surrogates(str(node), path, pos)  # also drops ruamel's str subclasses
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _join_surrogates(text: str, path: DataPath, pos: PositionMap) -> str:
    """YAML keeps JSON-style escaped surrogate pairs (`"\\ud83d\\ude00"`) as two code points; join
    them into one character, and refuse a lone surrogate (it cannot be written as UTF-8)."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise YamlLoadError("invalid string: a lone UTF-16 surrogate escape", pos.at(path)) from None


def describe_yaml_error(exc: Any, text: str, file: str) -> tuple[str, Position]:
    """The message and position of a YAML parser's marked error (ruamel's or PyYAML's: the same
    attributes), with what the parser's own words leave out: which kind of tab is refused, where
    an unclosed bracket or quote opened, and that a policy or OpenAPI file is one document."""
    mark, start = exc.problem_mark or exc.context_mark, exc.context_mark
    where = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
    problem = "; ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
    if "'\\t'" in problem and mark is not None:
        problem += _tab_advice(text, mark.index)
    elif "found another document" in problem:
        problem += (
            " (a line `---` starts a second YAML document here: a policy file or OpenAPI document is a"
            " single document; remove the line, or split the file)"
        )
    elif (
        start is not None
        and mark is not None
        and start.line != mark.line
        and (exc.context or "").startswith(("while parsing a flow", "while scanning a quoted"))
    ):
        opened = exc.context.split(" ", 2)[2]  # "a flow sequence", "a quoted scalar"
        problem += f" ({opened} opened at {start.line + 1}:{start.column + 1} is not closed)"
    return problem, where


def _tab_advice(text: str, index: int) -> str:
    line_start = text.rfind("\n", 0, index) + 1
    if text[line_start:index].strip(" \t") == "":
        return " (YAML indents with spaces only: replace the tab)"
    # `key:<TAB>value`, `[a,<TAB>b]`: valid YAML 1.2, refused by the parser apigen uses.
    return " (a tab between tokens: separate them with spaces; replace the tab)"


def check_inner_bom(text: str, file: str) -> None:
    """A byte-order mark (U+FEFF) at the start of a line other than the first: files joined with
    `cat`, the second one saved with a BOM. It became part of the next key (an "unknown key
    '\\ufeffgateway'" error). Policy files only: YAML allows the character in quoted scalars,
    which an OpenAPI description may continue on a line of its own."""
    index = text.find("\n\ufeff")
    if index >= 0:
        line = text.count("\n", 0, index) + 2
        raise YamlLoadError(
            "a byte-order mark (U+FEFF) at the start of this line: only the very start of a file may"
            " have one (files joined together?); remove it",
            Position(file, line, 1),
        )


def load_yaml_with_positions(text: str, file: str) -> tuple[Any, PositionMap]:
    """Parse YAML (or JSON) text; raise :class:`YamlLoadError` with a position on failure."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    pos = PositionMap(file)
    check_flow_depth(text, file)
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        problem, where = describe_yaml_error(exc, text, file)
        raise YamlLoadError(f"invalid YAML: {problem}", where) from None
    except YAMLError as exc:
        raise YamlLoadError(f"invalid YAML: {exc}", Position(file, 1, 1)) from None
    except RecursionError:
        raise YamlLoadError("document is nested too deeply", Position(file, 1, 1)) from None
    try:
        return _plain(doc, (), pos, [MAX_NODES]), pos
    except RecursionError:
        raise YamlLoadError("document is nested too deeply", Position(file, 1, 1)) from None


def read_text(path: Path, display: str) -> str:
    """Read a UTF-8 source file, turning OS and decoding problems into a positioned error."""
    try:
        raw = read_file(path, MAX_SOURCE_BYTES)
    except FileTooLargeError as exc:
        raise YamlLoadError(
            f"file is too large ({exc.size} bytes; at most {MAX_SOURCE_BYTES} for a policy or OpenAPI document)",
            Position(display, 1, 1),
        ) from None
    except FileNotFoundError:
        raise YamlLoadError("file not found", Position(display)) from None
    except IsADirectoryError:
        raise YamlLoadError("is a directory, expected a file", Position(display)) from None
    except OSError as exc:
        raise YamlLoadError(f"cannot read file: {exc.strerror}", Position(display)) from None
    nul = raw.find(b"\x00", 0, 8192)
    if nul >= 0:
        raise YamlLoadError("binary file (contains NUL bytes), expected YAML or JSON", _byte_position(raw, nul, display))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlLoadError(
            f"not valid UTF-8 (byte offset {exc.start})", _byte_position(raw, exc.start, display)
        ) from None


def _byte_position(raw: bytes, offset: int, display: str) -> Position:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return Position(display, raw.count(b"\n", 0, offset) + 1, offset - line_start + 1)
