"""OpenAPI path templates: parsing, specificity order and the one regex builder.

A parameter matches one path segment (never ``/``); parameters may share a segment with literal
text (``/files/{id}.json``, ``/{name}.{ext}``). Literal text is escaped; regexes are anchored at
both ends. Note nginx matches locations against the decoded, normalised URI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

_PARAM = re.compile(r"\{([^{}/]*)\}")
# Characters that are literal in PCRE without a backslash. Everything else ASCII is escaped;
# non-ASCII bytes are left alone (escaping one byte of a UTF-8 sequence would break it).
_PCRE_PLAIN = re.compile(r"[A-Za-z0-9_/\-]")

PARAM_REGEX = "[^/]+"


def pcre_escape(text: str) -> str:
    return "".join(ch if _PCRE_PLAIN.match(ch) or ord(ch) > 0x7F else "\\" + ch for ch in text)


def exact_regex(value: str) -> str:
    """A case-sensitive regex matching exactly ``value``: for map keys compared to user text, which
    nginx looks up ignoring case as literal keys (and reads as a regex when they start with `~`)."""
    return "^" + pcre_escape(value) + r"\z"


def raw_path_regex(path: str) -> str:
    """A regex matching every raw (percent-encoded or not) spelling of the decoded ``path``, byte
    by byte: nginx routes on the decoded URI, and ``/v%31/pets`` is ``/v1/pets`` to it, so a
    regex on ``$request_uri`` that must find the same prefix has to accept both. ``/`` stays
    literal (an encoded slash is refused as ambiguous before routing)."""
    out = []
    for byte in path.encode("utf-8", "surrogateescape"):
        if byte == 0x2F:
            out.append("/")
            continue
        encoded = "%" + "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{byte:02X}")
        literal = pcre_escape(chr(byte)) if byte < 0x80 else f"\\x{byte:02X}"
        out.append(f"(?:{literal}|{encoded})")
    return "".join(out)


@dataclass(frozen=True)
class Segment:
    """One ``/``-separated piece: a sequence of literal strings and parameter names."""

    parts: tuple[tuple[str, str], ...]  # ("lit", text) | ("param", name)

    @property
    def is_literal(self) -> bool:
        return all(kind == "lit" for kind, _ in self.parts)

    @property
    def is_param(self) -> bool:
        return len(self.parts) == 1 and self.parts[0][0] == "param"

    @property
    def literal_text(self) -> str:
        return "".join(text for kind, text in self.parts if kind == "lit")

    @property
    def shape(self) -> str:
        return "".join(text if kind == "lit" else "{}" for kind, text in self.parts)

    def regex(self, capture_names: list[str] | None = None) -> str:
        """With ``capture_names``, each parameter becomes a named group, taking names in order."""
        out = []
        for kind, text in self.parts:
            if kind == "lit":
                out.append(pcre_escape(text))
            elif capture_names is not None:
                out.append(f"(?P<{capture_names.pop(0)}>{PARAM_REGEX})")
            else:
                out.append(PARAM_REGEX)
        return "".join(out)

    def rank(self) -> tuple[int, int]:
        """Lower is more specific: literal, then mixed (more literal text first), then parameter."""
        if self.is_literal:
            return (0, 0)
        if self.is_param:
            return (2, 0)
        return (1, -len(self.literal_text))


def parse_segment(text: str) -> Segment:
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _PARAM.finditer(text):
        if m.start() > pos:
            parts.append(("lit", text[pos : m.start()]))
        parts.append(("param", m.group(1)))
        pos = m.end()
    if pos < len(text) or not parts:
        parts.append(("lit", text[pos:]))
    return Segment(tuple(parts))


@dataclass(frozen=True)
class PathTemplate:
    """A full request path template (base path included), e.g. ``/v1/pets/{petId}``."""

    text: str

    @cached_property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(parse_segment(s) for s in self.text.split("/")[1:])

    @property
    def is_concrete(self) -> bool:
        return all(s.is_literal for s in self.segments)

    @property
    def shape(self) -> str:
        """The template with parameter names erased: equal shapes match exactly the same URLs."""
        return "/" + "/".join(s.shape for s in self.segments)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(name for s in self.segments for kind, name in s.parts if kind == "param")

    def rank(self) -> tuple:
        return tuple(s.rank() for s in self.segments)

    def sort_key(self) -> tuple:
        # OpenAPI: at the first segment where two templates differ, literal beats parameter.
        return (self.rank(), self.shape, self.text)

    def regex(self, named_captures: bool = False) -> str:
        """The anchored regex. ``named_captures``: parameter ``n`` (1-based, in path order) is
        captured as ``apigen_p<n>``: named captures survive the ``rewrite ... last`` to the
        operation's location as variables (numbered ones are reset by it), so the operation can
        build an upstream path from them (see the ``rewrite`` policy kind)."""
        return "^/" + self.tail_regex(0, named_captures)

    def tail_regex(self, skip: int, named_captures: bool = False, replaced: tuple[int, str] | None = None) -> str:
        """The regex of the segments from index ``skip`` on, to the end (no leading "/"); the
        skipped segments must be literal, so parameter ``n`` keeps its capture name.
        ``replaced``: (index, regex) of a segment matched by that regex instead."""
        assert all(s.is_literal for s in self.segments[:skip]), "only literal segments can be skipped"
        names = [capture_variable(i) for i in range(1, len(self.param_names) + 1)] if named_captures else None
        parts = [s.regex(names) for s in self.segments]
        if replaced is not None:
            parts[replaced[0]] = replaced[1]
        return "/".join(parts[skip:]) + "$"

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.regex())

    def literal_prefix(self) -> str:
        """The path up to the ``/`` before the first segment that holds a parameter."""
        out = "/"
        for seg in self.segments:
            if not seg.is_literal:
                return out
            out += seg.literal_text + "/"
        return out

    def sample(self, fill: str = "x") -> str:
        return "/" + "/".join("".join(text if kind == "lit" else fill for kind, text in s.parts) for s in self.segments)


def capture_variable(index: int) -> str:
    """Variable of the ``index``-th (1-based) path parameter in a route regex with named captures."""
    return f"apigen_p{index}"


def join_base(base_path: str, path: str) -> str:
    """``/v1`` + ``/pets`` -> ``/v1/pets``; an empty base leaves the path alone."""
    if not path.startswith("/"):
        path = "/" + path
    return (base_path.rstrip("/") + path) if base_path else path


def compatible_with_prefix(template: PathTemplate, prefix: str) -> bool:
    """Can a URL that starts with the literal ``prefix`` (ending in ``/``) match ``template``?"""
    literal = [s for s in prefix.strip("/").split("/") if s] if prefix != "/" else []
    segs = template.segments
    if len(segs) <= len(literal):
        return False
    for seg, lit in zip(segs, literal, strict=False):
        if seg.is_literal:
            if seg.literal_text != lit:
                return False
        elif not re.fullmatch(seg.regex(), lit):
            return False
    return True
