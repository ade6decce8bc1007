"""Quoting: every string survives nginx's tokenizer unchanged (round trips), nothing injects."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apigen.render.quoting import DOLLAR_VARIABLE, UnquotableError, bare, json_string, map_key, map_regex_key, quote

# Text without NUL (nginx cannot carry it; quote() refuses it).
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)


def nginx_read_quoted(token: str) -> str:
    """What nginx's ngx_conf_read_token makes of one double-quoted token: the quotes go, and
    ``\\"``, ``\\\\``, ``\\t``, ``\\r``, ``\\n`` are unescaped; any other backslash stays."""
    assert token[0] == '"' and token[-1] == '"', token
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            raise AssertionError(f"unescaped quote ends the token early: {token!r}")
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        if ch == "\\":
            raise AssertionError(f"a trailing backslash escapes the closing quote: {token!r}")
        out.append(ch)
        i += 1
    return "".join(out)


@given(TEXT)
def test_quote_round_trips_through_nginx_tokenizer(text: str) -> None:
    assert nginx_read_quoted(quote(text)) == text


@given(TEXT)
def test_quote_with_variables_neutralises_every_dollar(text: str) -> None:
    token = nginx_read_quoted(quote(text, variables=True))
    placeholder = "${" + DOLLAR_VARIABLE + "}"
    assert "$" not in token.replace(placeholder, "")
    assert token.replace(placeholder, "$") == text


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("a b", '"a b"'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("line\nbreak;", r'"line\nbreak;"'),
        ("{ } ; #", '"{ } ; #"'),
        ("", '""'),
        (7, "7"),
        (True, "on"),
        (False, "off"),
    ],
)
def test_quote_examples(value: object, token: str) -> None:
    assert quote(value) == token


def test_quote_keeps_dollar_literal_where_nginx_does_not_evaluate() -> None:
    assert quote("$x") == '"$x"'
    assert quote("$x", variables=True) == '"${apigen_dollar}x"'


def test_nul_is_refused() -> None:
    with pytest.raises(UnquotableError):
        quote("a\x00b")


@given(TEXT)
def test_map_key_round_trips(text: str) -> None:
    token = nginx_read_quoted(map_key(text))
    # ngx_http_map strips one leading backslash, which is how keywords and `~` are made literal.
    if token.startswith("\\"):
        token = token[1:]
    else:
        assert token not in ("default", "hostnames", "include", "volatile") and not token.startswith("~")
    assert token == text


@pytest.mark.parametrize("key", ["default", "hostnames", "include", "volatile", "~regex", "\\x"])
def test_map_key_escapes_keywords_and_regex_markers(key: str) -> None:
    assert nginx_read_quoted(map_key(key)) == "\\" + key


@given(TEXT)
def test_map_regex_key_round_trips(text: str) -> None:
    # nginx reads a map key starting with `~` as a case-sensitive regex: exactly the text after it.
    assert nginx_read_quoted(map_regex_key(text)) == "~" + text


@given(TEXT)
def test_json_string_is_json_and_safe_in_a_quoted_token(text: str) -> None:
    literal = json_string(text)
    assert json.loads(literal) == text
    assert "$" not in literal
    assert all(0x20 <= ord(c) <= 0x7E for c in literal)
    assert nginx_read_quoted(quote(literal)) == literal


def test_json_string_astral_characters_are_surrogate_pairs() -> None:
    assert json_string("\U0001f600") == '"\\ud83d\\ude00"'


@pytest.mark.parametrize("token", ["least_conn", "10s", "127.0.0.1:9001", "unix:/run/x.sock", "a@b+c,d=e"])
def test_bare_accepts_plain_tokens(token: str) -> None:
    assert bare(token) == token


@pytest.mark.parametrize("token", ["", "a b", "a;b", "a{", "$x", "a'b", 'a"b', "a\nb", "a#b"])
def test_bare_refuses_anything_that_could_split_or_evaluate(token: str) -> None:
    with pytest.raises(UnquotableError):
        bare(token)


def test_token_is_bare_only_when_nothing_needs_quoting() -> None:
    from apigen.render.quoting import token

    assert str(token("uri=/healthz")) == "uri=/healthz"
    assert str(token("uri=/a~b")) == '"uri=/a~b"'
    assert str(token("a;b{c}")) == '"a;b{c}"'
