"""Diagnostics: errors and warnings with a source position, collected rather than raised.

Every stage appends to a :class:`Diagnostics` list; the CLI formats them as
``file:line:col: severity: message``. A stage that cannot go on raises :class:`CompileError`
carrying everything collected so far, so the user sees all problems at once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, order=True)
class Position:
    """A place in a source file. ``line`` and ``col`` are 1-based; 0 means unknown."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col or 1}"
        return self.file


def one_line(text: str) -> str:
    """Non-printable characters (line breaks, escapes) as Python escapes: ``\\n``, ``\\x1b``."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


# Messages quote values (the validators quote the failing one whole): a 2 MB server_name made a
# 2 MB error line, in CI logs and SARIF uploads too (found by a hunt). The head says what is wrong.
MAX_MESSAGE = 1000


def _bounded(message: str) -> str:
    if len(message) <= MAX_MESSAGE:
        return message
    return message[: MAX_MESSAGE - 40] + f"... ({len(message) - MAX_MESSAGE + 40} more characters)"


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    message: str
    position: Position | None = None
    code: str = ""
    hint: str = ""
    related: tuple[Position, ...] = ()

    def format(self) -> str:
        """One line per diagnostic (plus indented related/hint lines): text quoted from the
        input (a spec's $ref, a path) could otherwise start a line that reads as another
        ``file:line:col: error:`` to a CI annotator, or send terminal escape sequences."""
        where = f"{one_line(str(self.position))}: " if self.position else ""
        text = f"{where}{self.severity.value}: {one_line(self.message)}"
        if self.code:
            text += f" [{self.code}]"
        for rel in self.related:
            text += f"\n  {rel}: related location"
        if self.hint:
            text += f"\n  hint: {one_line(self.hint)}"
        return text

    def sort_key(self) -> tuple:
        pos = self.position or Position("")
        return (pos.file, pos.line, pos.col, self.message)


@dataclass
class Diagnostics:
    """An ordered collection of diagnostics from one compilation."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, position: Position | None = None, **kw: object) -> None:
        self.items.append(Diagnostic(Severity.ERROR, _bounded(message), position, **kw))  # type: ignore[arg-type]

    def warning(self, message: str, position: Position | None = None, **kw: object) -> None:
        self.items.append(Diagnostic(Severity.WARNING, _bounded(message), position, **kw))  # type: ignore[arg-type]

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        # De-duplicate (the same problem can be found by two checks) and order by place.
        unique = {(d.severity, d.message, d.position): d for d in self.items}
        return sorted(unique.values(), key=Diagnostic.sort_key)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise CompileError(self)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class CompileError(Exception):
    """Raised when a stage found errors; carries every diagnostic collected so far."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        super().__init__("; ".join(d.format() for d in diagnostics.errors[:3]))
