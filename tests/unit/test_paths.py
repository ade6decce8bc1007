"""Path templates: segment parsing, the one regex builder (escaping, anchoring), literal prefixes."""

from __future__ import annotations

import re

import pytest

from apigen.plan.paths import PathTemplate, compatible_with_prefix, join_base, parse_segment, pcre_escape


@pytest.mark.parametrize(
    ("template", "regex"),
    [
        ("/pets/{id}", r"^/pets/[^/]+$"),
        ("/files/{id}.json", r"^/files/[^/]+\.json$"),
        ("/{name}.{ext}", r"^/[^/]+\.[^/]+$"),
        ("/users/@me/{x}", r"^/users/\@me/[^/]+$"),
        ("/a:b/{x}", r"^/a\:b/[^/]+$"),
        ("/a+b/{x}", r"^/a\+b/[^/]+$"),
        ("/x[0]/{y}", r"^/x\[0\]/[^/]+$"),
        ("/x(1)|{y}", r"^/x\(1\)\|[^/]+$"),
        ("/q?{a}*", r"^/q\?[^/]+\*$"),
        ("/$/{a}^", r"^/\$/[^/]+\^$"),
        ("/h#{a}", r"^/h\#[^/]+$"),
        ("/sp ace/{a}", r"^/sp\ ace/[^/]+$"),
        ("/{a}/{b}/c", r"^/[^/]+/[^/]+/c$"),
        ("/caf\u00e9/{a}", "^/caf\u00e9/[^/]+$"),
    ],
)
def test_regex_escapes_literals_and_anchors(template: str, regex: str) -> None:
    assert PathTemplate(template).regex() == regex


@pytest.mark.parametrize(
    ("template", "matches", "rejects"),
    [
        ("/files/{id}.json", ["/files/7.json", "/files/a.b.json"], ["/files/7xjson", "/files/7.json/x", "/files/.json", "/xfiles/7.json"]),
        ("/{name}.{ext}", ["/a.b", "/a.b.c"], ["/ab", "/a/b.c", "/.b"]),
        ("/users/@me/{x}", ["/users/@me/1"], ["/users/xme/1", "/users/@me/", "/users/@me/1/2"]),
        ("/a+b/{x}", ["/a+b/1"], ["/aab/1", "/aaab/1"]),
        ("/x[0]/{y}", ["/x[0]/1"], ["/x0/1"]),
        ("/v1/{a}", ["/v1/x"], ["/v1/x/", "/v1/", "/v1/x/y", "/pre/v1/x"]),
    ],
)
def test_regex_matches_exactly_one_segment_per_parameter(template: str, matches: list[str], rejects: list[str]) -> None:
    compiled = re.compile(PathTemplate(template).regex())
    for url in matches:
        assert compiled.match(url), url
    for url in rejects:
        assert not compiled.match(url), url


@pytest.mark.parametrize("ch", [chr(c) for c in range(0x21, 0x7F)])
def test_every_printable_ascii_literal_is_matched_literally(ch: str) -> None:
    # Python's re and PCRE agree on these escapes; the escaped text matches itself and nothing else.
    regex = "^" + pcre_escape(f"a{ch}b") + "$"
    assert re.match(regex, f"a{ch}b")
    assert not re.match(regex, "axb" if ch != "x" else "ayb")


def test_segments_parse_literal_and_parameter_parts() -> None:
    seg = parse_segment("{name}.{ext}")
    assert seg.parts == (("param", "name"), ("lit", "."), ("param", "ext"))
    assert (seg.is_literal, seg.is_param, seg.shape) == (False, False, "{}.{}")
    assert parse_segment("{id}").is_param
    assert parse_segment("pets").is_literal
    assert parse_segment("").parts == (("lit", ""),)


def test_shape_erases_parameter_names_only() -> None:
    assert PathTemplate("/pets/{petId}/toys/{toy}.json").shape == "/pets/{}/toys/{}.json"
    assert PathTemplate("/pets/{a}").shape == PathTemplate("/pets/{b}").shape
    assert PathTemplate("/pets/{a}").param_names == ("a",)
    assert PathTemplate("/pets/mine").is_concrete
    assert not PathTemplate("/pets/{id}.json").is_concrete


@pytest.mark.parametrize(
    ("template", "prefix"),
    [
        ("/v1/pets/{id}", "/v1/pets/"),
        ("/v1/{x}/pets", "/v1/"),
        ("/{x}", "/"),
        ("/v1/files/{id}.json", "/v1/files/"),
        ("/v1/pets/mine", "/v1/pets/mine/"),
    ],
)
def test_literal_prefix_stops_before_first_templated_segment(template: str, prefix: str) -> None:
    assert PathTemplate(template).literal_prefix() == prefix


def test_join_base() -> None:
    assert join_base("/v1", "/pets") == "/v1/pets"
    assert join_base("", "/pets") == "/pets"
    assert join_base("/v1/", "pets") == "/v1/pets"


@pytest.mark.parametrize(
    ("template", "prefix", "expected"),
    [
        ("/{a}/b", "/x/", True),
        ("/{a}/b", "/x/y/", False),  # literal b vs y
        ("/{a}", "/x/", False),  # no segment left for the rest of the URL
        ("/{a}.json/b", "/x.json/", True),
        ("/{a}.json/b", "/x.yaml/", False),
        ("/v1/{a}/{b}", "/v1/pets/", True),
    ],
)
def test_compatible_with_prefix(template: str, prefix: str, expected: bool) -> None:
    assert compatible_with_prefix(PathTemplate(template), prefix) is expected
