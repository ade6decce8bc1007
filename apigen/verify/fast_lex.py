"""crossplane's tokens, found with one regex instead of a Python loop over every character.

crossplane's lexer walks a file a character at a time through three generators: 3 s of the
3.7 s that parsing a 10,000-operation bundle back takes, almost all of it in api_maps.conf
(3.9 MB). :func:`lex` yields the same ``(token, line, quoted)`` tuples for the text apigen
writes, and hands every file it cannot vouch for to crossplane's own lexer: one whose meaning
depends on the lexer's corner cases (a comment ending in an escaped newline, ``${`` in a bare
word, a quote never closed, no newline at the end, a directive with a lexer of its own such as
``content_by_lua_block``). tests/unit/test_fast_lex.py compares the two on every golden bundle
and on random text. crossplane's parser, context and argument checks are unchanged:
only its tokenizer is replaced, while :func:`crossplane_tokens` is in effect.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import crossplane.lexer
import crossplane.parser

Token = tuple[str, int, bool]

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>\#[^\n]*)
    | (?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<special>[{};])
    | (?P<bare>(?:[^\s{};"'\#\\]|\\.)(?:[^\s{};\\]|\\.)*)
    """,
    re.X | re.S,
)
_ESCAPE = re.compile(r"\\(.)", re.S)


class _Unsure(Exception):
    """The text depends on a corner of crossplane's lexer: let crossplane tokenize it."""


def _unquote(body: str, quote: str) -> str:
    # crossplane keeps an escape as written (backslash included), except an escaped quote of the
    # string's own kind, which becomes the quote.
    return _ESCAPE.sub(lambda m: quote if m.group(1) == quote else m.group(0), body)


def tokens(text: str) -> list[Token]:
    """The tokens crossplane's lexer yields for ``text``; raises _Unsure where it might differ."""
    if not text.endswith("\n") or any(name in text for name in crossplane.lexer.EXTERNAL_LEXERS):
        raise _Unsure  # a last token or comment without a newline is dropped by crossplane
    out: list[Token] = []
    line, pos, end = 1, 0, len(text)
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _Unsure  # a quote never closed
        kind, value = m.lastgroup, m.group()
        if kind == "comment":
            if (len(value) - len(value.rstrip("\\"))) % 2:
                raise _Unsure  # an escaped newline: crossplane ends the comment there, dropping the backslash
            out.append((value, line, False))
        elif kind == "bare":
            # A backslash and the character after it are one character to crossplane (kept as
            # written, never a separator), which the pattern's `\\.` does too.
            if value.endswith("$") and text.startswith("{", m.end()):
                raise _Unsure  # `${...}` inside a bare word is one token to crossplane
            if m.end() == end:
                raise _Unsure  # the last newline escaped: crossplane drops a word the file ends in
            # crossplane counts a newline as it reads it: a word that starts with an escaped
            # newline is on the next line.
            out.append((value, line + value.startswith("\\\n"), False))
        elif kind == "quoted":
            out.append((_unquote(value[1:-1], value[0]), line, True))
        elif kind == "special":
            out.append((value, line, False))
        line += value.count("\n")
        pos = m.end()
    return out


def lex(filename: str) -> Iterator[Token]:
    """crossplane.lexer.lex, faster on the files apigen writes (read the same way: UTF-8 with
    replacement, universal newlines); unbalanced braces raise crossplane's own error."""
    with open(filename, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        found = tokens(text)
    except _Unsure:
        yield from crossplane.lexer.lex(filename)
        return
    yield from crossplane.lexer._balance_braces(iter(found), filename)


@contextlib.contextmanager
def crossplane_tokens() -> Iterator[None]:
    """crossplane.parse tokenizes with :func:`lex` inside this block."""
    saved = crossplane.parser.lex
    crossplane.parser.lex = lex
    try:
        yield
    finally:
        crossplane.parser.lex = saved
