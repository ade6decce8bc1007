"""Content-Length limits of named operation locations: nginx compares Content-Length with
client_max_body_size only where it looks a location up (the route location), so an operation
whose limit is lower checks a map on $content_length built from a greater-than regex."""

from __future__ import annotations

import re

import pytest

from apigen.plan.planner import greater_than_regex


@pytest.mark.parametrize("n", [0, 1, 9, 10, 99, 100, 109, 190, 1999, 65536, 1048576, 10485760])
def test_greater_than_regex_matches_exactly_the_larger_numbers(n: int) -> None:
    regex = re.compile(greater_than_regex(n))
    for x in [*range(0, 2500), n - 1, n, n + 1, n * 10, n * 10 + 9, 10**12]:
        if x < 0:
            continue
        for text in (str(x), f"000{x}"):  # nginx parses Content-Length with leading zeros
            assert bool(regex.match(text)) == (x > n), (n, text)
    assert not regex.match("") and not regex.match("12a") and not regex.match("-5")
