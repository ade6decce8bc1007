"""The path-confusion check has two forms: a possessive, single-pass regex for nginx (PCRE) and
a plain one for Python (`apigen explain`, tests). They must agree on every request URI; Python
3.11+ compiles possessive quantifiers, so the nginx form is checked here on generated URIs
(the live test checks nginx itself on the characteristic cases)."""

from __future__ import annotations

import random
import re
import sys

import pytest

from apigen.plan.routing import AMBIGUOUS_PATH_REGEX, path_is_ambiguous

PIECES = ["/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "\\", "a", "b1", ";x", "%", "%20", "?", "=", "&", "-", "..."]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="re compiles possessive quantifiers from Python 3.11")
def test_nginx_and_python_forms_agree() -> None:
    nginx_form = re.compile(AMBIGUOUS_PATH_REGEX)
    rng = random.Random(8)
    for _ in range(20000):
        uri = "/" + "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))
        assert bool(nginx_form.search(uri)) == path_is_ambiguous(uri), uri


@pytest.mark.parametrize(
    ("uri", "ambiguous"),
    [
        ("/v1/items/42", False), ("/v1/items/a%2Eb", False), ("/v1/items/...", False), ("/v1/..x", False),
        ("/v1/items?next=/a/../b%2F//c", False), ("/v1/items/%2E%2E%2Fx", True), ("/v1/./x", True),
        ("/v1/x/..", True), ("/v1/x/..?a", True), ("//v1", True), ("/v1/a%2fb", True), ("/v1/a%5Cb", True),
        ("/v1/a\\b", True), ("/v1/..;/x", True), ("/v1/.%2e/x", True),
    ],
)
def test_characteristic_uris(uri: str, ambiguous: bool) -> None:
    assert path_is_ambiguous(uri) is ambiguous
