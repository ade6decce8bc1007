"""The path-confusion rule (apigen.plan.routing.AMBIGUOUS_PATH_REGEX) against an independent,
segment-by-segment statement of it, on generated URIs; the live test checks nginx itself on the
characteristic cases."""

from __future__ import annotations

import random
import re

import pytest

from apigen.plan.routing import AMBIGUOUS_PATH_REGEX, path_is_ambiguous

PIECES = [
    "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "\\", "a", "b1", ";x", "%3bx", "%3B", "#", "%",
    "%20", "?", "=", "&", "-", "...", "%41", "%7a", "%7A", "%7e", "%5f", "%2d", "%39", "%40", "%5b", "%60", "%7b",
    "%0a", "%0A", "%0d", "%09", "%1f", "%1F", "%00", "%7f", "%7F", "%80", "%21",
]
UNRESERVED_BUT_TILDE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")


def _oracle(uri: str) -> bool:
    """The rule, written segment by segment (independent of the regex)."""
    path = uri.split("?", 1)[0]
    low = path.lower()
    if "%2f" in low or "%5c" in low or "\\" in path or "//" in path or ";" in path or "#" in path:
        return True
    escapes = re.findall(r"%([0-9a-fA-F]{2})", path)
    if any(chr(int(h, 16)) in UNRESERVED_BUT_TILDE for h in escapes):
        return True
    if any(int(h, 16) < 0x20 or int(h, 16) == 0x7F for h in escapes):  # control characters
        return True
    for segment in path.split("/")[1:]:
        if segment.lower().split("%3b", 1)[0].replace("%2e", ".") in (".", ".."):
            return True
    return False


def test_the_regex_is_the_rule() -> None:
    """nginx applies AMBIGUOUS_PATH_REGEX, unanchored, to $apigen_log_path (the raw path);
    path_is_ambiguous does the same in Python. Both must be the segment rule."""
    nginx_form = re.compile(AMBIGUOUS_PATH_REGEX)
    rng = random.Random(8)
    for _ in range(20000):
        uri = "/" + "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))
        expected = _oracle(uri)
        assert path_is_ambiguous(uri) == expected, uri
        assert bool(nginx_form.search(uri.split("?", 1)[0])) == expected, uri


@pytest.mark.parametrize(
    ("uri", "ambiguous"),
    [
        ("/v1/items/42", False), ("/v1/items/a%2Eb", True), ("/users/m%65", True), ("/users/%6D%65", True),
        ("/v1/a%7Eb", False), ("/v1/a%20b", False), ("/v1/a%40b", False), ("/v1/a%5Fb", True), ("/v1/a%2db", True), ("/v1/items/...", False), ("/v1/..x", False),
        ("/v1/items?next=/a/../b%2F//c", False), ("/v1/items/%2E%2E%2Fx", True), ("/v1/./x", True),
        ("/v1/x/..", True), ("/v1/x/..?a", True), ("//v1", True), ("/v1/a%2fb", True), ("/v1/a%5Cb", True),
        ("/v1/a\\b", True), ("/v1/..;/x", True), ("/v1/.%2e/x", True),
        # Hunts: servlet ";params", a raw "#", and a rewritten (decoded) "..%3B".
        ("/users/me;x", True), ("/public#/secret", True), ("/v1/pets/..%3B", True), ("/v1/pets/..%3bx/y", True),
        ("/v1/pets/a%3Bb", False), ("/v1/pets/.%3b", True),
        # Twelfth session: an encoded control character ("$" matches before a final newline).
        ("/users/me%0A", True), ("/users/me%0a", True), ("/v1/a%09b", True), ("/v1/a%00", True), ("/v1/a%7Fb", True),
        ("/v1/a%1Fb", True), ("/v1/a%20b", False), ("/v1/a%80b", False),
    ],
)
def test_characteristic_uris(uri: str, ambiguous: bool) -> None:
    assert path_is_ambiguous(uri) is ambiguous
