"""The one place where strings become nginx configuration tokens.

nginx reads a double-quoted token literally except for ``\\"``, ``\\\\``, ``\\t``, ``\\r``,
``\\n`` and, in directives that evaluate variables, ``$name``. So every user-controlled string is
rendered through :func:`quote` (never pasted into a template), and templates refuse any value that
did not come from here (see :mod:`apigen.render.renderer`).

There is no escape for ``$`` in nginx: a literal dollar in a variable-evaluating argument becomes
``${apigen_dollar}``, a variable the bundle defines as a single ``$`` (with ``geo``, whose values
are never evaluated).
"""

from __future__ import annotations

import re

from markupsafe import Markup

DOLLAR_VARIABLE = "apigen_dollar"

# nginx reads a configuration token (a quoted argument, a comment line) into a 4096-byte buffer and
# fails with "too long parameter" beyond it; inputs are checked against this bound when validated.
MAX_TOKEN_BYTES = 4000

_MAP_SPECIAL = {"default", "hostnames", "include", "volatile"}
_BARE_OK = re.compile(r"^[A-Za-z0-9_./:=@+,\[\]-]+$")  # brackets: IPv6 addresses
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Arg(Markup):
    """A string that is already a valid, safe nginx token (quoted or bare).

    A ``Markup`` subclass so that the template engine prints it untouched; see the renderer.
    """

    __slots__ = ()


class UnquotableError(ValueError):
    """The value cannot be represented in an nginx configuration (for example, it has a NUL)."""


def _escape(text: str, *, variables: bool) -> str:
    if "\x00" in text:
        raise UnquotableError("NUL character cannot appear in nginx configuration")
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "$" and variables:
            out.append("${" + DOLLAR_VARIABLE + "}")
        else:
            out.append(ch)
    return "".join(out)


def quote(value: object, *, variables: bool = False) -> Arg:
    """Render ``value`` so that nginx reads exactly it, as one argument.

    ``variables=True`` is for arguments nginx evaluates (``set``, ``add_header`` values,
    ``proxy_set_header`` values, ``return`` bodies, ``map`` values): dollars are neutralised.
    ``variables=False`` is for arguments nginx takes literally (location paths and regexes, map
    keys, file names, upstream names): a dollar there is already just a dollar.
    """
    if isinstance(value, bool):
        return Arg("on" if value else "off")
    if isinstance(value, int):
        return Arg(str(value))
    text = str(value)
    return Arg('"' + _escape(text, variables=variables) + '"')


def quote_with_capture(before: str, after: str) -> Arg:
    """A ``map`` value: ``before``, the entry regex's first capture, then ``after``, the texts
    taken literally (dollars neutralised). ``after`` is empty or starts with "/", so nothing
    follows ``$1`` that nginx could read as part of the reference."""
    if after and not after.startswith("/"):
        raise UnquotableError(f"text after a capture must start with '/': {after!r}")
    return Arg('"' + _escape(before, variables=True) + "$1" + _escape(after, variables=True) + '"')


def token_bytes(value: str, *, variables: bool = False) -> int:
    """The size of ``value`` once quoted, to check it against :data:`MAX_TOKEN_BYTES`."""
    return len(_escape(value.replace("\x00", ""), variables=variables).encode("utf-8", "surrogatepass")) + 2


def bare(value: str) -> Arg:
    """A token that needs no quotes (names, sizes, durations); anything else is refused."""
    if not _BARE_OK.match(value):
        raise UnquotableError(f"not a plain nginx token: {value!r}")
    return Arg(value)


def variable(name: str) -> Arg:
    """``$name``, for the name of a variable apigen defines; anything else is refused."""
    if not _VARIABLE_NAME.match(name):
        raise UnquotableError(f"not a variable name: {name!r}")
    return Arg("$" + name)


def token(value: str) -> Arg:
    """A literal argument, bare when it needs no quotes (readable output), quoted otherwise."""
    return Arg(value) if _BARE_OK.match(value) else quote(value)


def map_key(value: str) -> Arg:
    """A literal (non-regex) ``map``/``split_clients`` source value."""
    # Keys that look like keywords or regexes are escaped with a leading backslash (map docs).
    if value in _MAP_SPECIAL or value.startswith("~") or value.startswith("\\"):
        value = "\\" + value
    return quote(value)


def map_regex_key(regex: str) -> Arg:
    """A regex ``map`` source value (case-sensitive): ``~`` and the regex, taken literally."""
    return quote("~" + regex)


def expr(value: str) -> Arg:
    """A trusted nginx expression written by apigen itself (``$request_uri``, a JSON body with
    ``$apigen_request_id``). Never call this with user input."""
    return quote(value, variables=False)


def json_string(text: str) -> str:
    """``text`` as a JSON string literal, safe inside a quoted nginx token (no raw ``$``)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\' or code < 0x20 or ch == "$" or code > 0x7E:
            if code > 0xFFFF:  # astral characters are written as a UTF-16 surrogate pair in JSON
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
