"""OpenAPI documents in YAML are read with YAML 1.2 core-schema rules (what OpenAPI 3 specifies
and what the policy file's ruamel.yaml does), not PyYAML's YAML 1.1 ones, and duplicate keys are
errors at their position. Found by a bug hunt: a property named `on` became "true" in a
generated validator, `maximum: 1e3` was a string, a second `/a:` silently replaced the first."""

from __future__ import annotations

import math

import pytest

from apigen.load.spec_loader import SpecLoadError, parse_document


def test_scalars_follow_yaml_1_2() -> None:
    doc = parse_document(
        "a: on\nb: no\nc: yes\nd: 1e3\ne: 010\nf: 0o17\ng: 0x1F\nh: true\ni: False\nj: 1.5\n"
        "k: -.inf\nl: 2001-01-01\nm: ~\nn: 1_000\no: 12:30\n200: ok\n",
        "spec.yaml",
    )
    assert doc == {
        "a": "on", "b": "no", "c": "yes", "d": 1000.0, "e": 10, "f": 15, "g": 31, "h": True, "i": False,
        "j": 1.5, "k": -math.inf, "l": "2001-01-01", "m": None, "n": "1_000", "o": "12:30", "200": "ok",
    }


def test_a_property_named_on_stays_on() -> None:
    doc = parse_document("type: object\nrequired: [on, no]\nproperties:\n  on: {type: string}\n", "spec.yaml")
    assert doc["required"] == ["on", "no"] and list(doc["properties"]) == ["on"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("paths:\n  /a: {get: {}}\n  /a: {post: {}}\n", (3, 3)),
        ("a:\n  b: 1\n  'b': 2\n", (3, 3)),
    ],
)
def test_duplicate_keys_are_errors_at_the_second(text: str, where: tuple[int, int]) -> None:
    with pytest.raises(SpecLoadError) as info:
        parse_document(text, "spec.yaml")
    assert "duplicate key" in info.value.message
    assert (info.value.position.line, info.value.position.col) == where


def test_merge_keys_may_be_overridden() -> None:
    assert parse_document("b: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 3\n", "s.yaml")["m"] == {"x": 3, "y": 2}
