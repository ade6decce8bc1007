r"""Schema patterns are ECMA-262 regexes; njs 0.7.9 runs them with PCRE. The generated validator
rewrites the forms the two read differently (apigen.validation.compile_njs.ecma_pattern), and
each pattern here must accept exactly what an ECMA engine (regress) accepts. (Not translated:
`\S` inside a class, which stays PCRE's ASCII reading.)"""

from __future__ import annotations

import pytest
import regress

from apigen.validation.compile_njs import ecma_pattern
from tests.support.njs import requires_njs_cli, run_validator

CASES = [
    # A dash next to a class escape is literal in ECMA; PCRE refused the pattern (all values failed).
    (r"^[\w-.]+$", ["a-b.c", "a_b", "a b", "", "-"]),
    (r"^[\d-z]+$", ["1-z", "5", "y", "-"]),
    (r"^[a-\d]+$", ["a-1", "b", "-"]),
    # [^] is any character, [] no character at all; PCRE refused both.
    (r"^a[^]b$", ["a\nb", "axb", "ab"]),
    (r"^(?:x|[])$", ["x", "", "]"]),
    # $ is the end of input only (PCRE also matched before a final line feed).
    (r"^[a-z]+$", ["abc", "abc\n", "ab1"]),
    # `.` excludes every ECMA line terminator; `\s` and `\S` are Unicode (PCRE's are ASCII).
    (r"^a.b$", ["axb", "a\rb", "a\u2028b", "a\nb", "a\u00e9b", "a\U0001F600b"]),
    (r"^\s+$", [" ", "\u00a0", "\u3000\t", "x", "\ufeff"]),
    (r"^\S+$", ["x", "\u00a0", "a b", "\u00e9"]),
    (r"^[\s,]+$", [" ,", "\u2003", "x"]),
    (r"^[^\s]+$", ["abc", "a\u00a0b"]),
    # Unchanged forms keep their meaning.
    (r"^[a-z-]+$", ["a-b", "A"]),
    (r"^\[-\]$", ["[-]", "[x]"]),
    (r"^[\\-a]+$", ["\\", "a", "]", "Z"]),
]


def test_translations() -> None:
    assert ecma_pattern(r"[\w-.]") == r"[\w\-.]"
    assert ecma_pattern(r"[^]") == r"[\s\S]"
    assert ecma_pattern(r"[]") == "(?!)"
    assert ecma_pattern(r"[a-z]$") == r"[a-z](?![\s\S])"
    assert ecma_pattern(r"[$]") == r"[$]"
    assert ecma_pattern(r"a.b") == r"a[^\n\r\u2028\u2029]b"
    assert ecma_pattern(r"[.]\.") == r"[.]\."


@requires_njs_cli
@pytest.mark.parametrize(("pattern", "values"), CASES, ids=[c[0] for c in CASES])
def test_njs_accepts_what_ecma_accepts(pattern: str, values: list[str]) -> None:
    expected = [regress.Regex(pattern).find(v) is not None for v in values]
    results = run_validator({"type": "string", "pattern": pattern}, values)
    assert [not r for r in results] == expected, list(zip(values, results, strict=True))
