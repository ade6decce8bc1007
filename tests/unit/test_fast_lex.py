"""apigen.verify.fast_lex yields what crossplane's lexer yields: on every golden bundle (and
there without falling back to crossplane), and on random text built from the characters whose
handling is subtle (quotes, escapes, braces, comments, `${`, odd whitespace)."""

from __future__ import annotations

import random
from pathlib import Path

import crossplane.lexer
import pytest
from crossplane.errors import NgxParserSyntaxError
from crossplane.ext.lua import LuaBlockParserSyntaxError

from apigen.verify import fast_lex

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CONF_FILES = sorted(p for p in GOLDEN.glob("*/expected/**/*.conf"))


def _lexed(lex, path: Path) -> tuple[list, str | None]:
    out: list = []
    try:
        for token in lex(str(path)):
            out.append(token)
    except (NgxParserSyntaxError, LuaBlockParserSyntaxError) as exc:  # the second is not the first's kind
        return out, f"{type(exc).__name__}: {exc}"
    return out, None


@pytest.mark.parametrize("path", CONF_FILES, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_golden_files_take_the_fast_path_and_match(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert fast_lex.tokens(text) == list(crossplane.lexer.lex(str(path)))


def test_there_are_golden_files() -> None:
    assert len(CONF_FILES) > 20


def test_random_text_matches_crossplane(tmp_path: Path) -> None:
    rng = random.Random(11)
    pieces = ['"', "'", "\\", "{", "}", ";", "#", "$", "${x}", " ", "\t", "\n", "\r\n", "\x0b", "\u00a0", "\u2028", "a", "b1", "é", "map", "content_by_lua_block"]
    path = tmp_path / "x.conf"
    fast = 0
    for n in range(6000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        if n % 2:
            text += "\n"
        path.write_bytes(text.encode("utf-8"))
        assert _lexed(fast_lex.lex, path) == _lexed(crossplane.lexer.lex, path), repr(text)
        try:
            fast_lex.tokens(path.read_text(encoding="utf-8"))
            fast += 1
        except fast_lex._Unsure:
            pass
    assert fast > 500  # the fast path itself was compared, not only the fallback


def test_parse_inside_the_block_uses_the_fast_lexer(tmp_path: Path) -> None:
    import crossplane.parser

    saved = crossplane.parser.lex
    with fast_lex.crossplane_tokens():
        assert crossplane.parser.lex is fast_lex.lex
    assert crossplane.parser.lex is saved


@pytest.mark.parametrize("main", sorted(GOLDEN.glob("*/expected/nginx.conf")), ids=lambda p: p.parent.parent.name)
def test_crossplane_parse_gives_the_same_payload(main: Path) -> None:
    import crossplane

    def parse() -> dict:
        return crossplane.parse(str(main), check_ctx=True, check_args=True, strict=False, catch_errors=True)

    plain = parse()
    with fast_lex.crossplane_tokens():
        fast = parse()
    assert fast == plain and plain["config"] and plain["status"] == "ok"
