"""Error-answer headers several policy kinds name become one line (apigen/plan/error_headers.py)."""

from __future__ import annotations

from apigen.plan.error_headers import FallbackMap, merge_error_headers


def test_a_header_named_once_keeps_its_variable() -> None:
    headers, maps = merge_error_headers([(401, "WWW-Authenticate", "apigen_challenge")] * 2)
    assert (headers, maps) == (((401, "WWW-Authenticate", "apigen_challenge"),), ())


def test_a_header_named_twice_is_the_first_non_empty_upstream_first() -> None:
    headers, maps = merge_error_headers(
        [
            (429, "Retry-After", "apigen_retry_after"),
            (429, "retry-after", "upstream_http_retry_after"),
            (503, "Retry-After", "upstream_http_retry_after"),
        ]
    )
    assert headers == (
        (429, "Retry-After", "apigen_error_header_0"),
        (503, "Retry-After", "upstream_http_retry_after"),
    )
    assert maps == (FallbackMap("upstream_http_retry_after", "apigen_error_header_0", "apigen_retry_after"),)


def test_three_sources_chain_and_equal_sets_share_one_map() -> None:
    sources = ["b_var", "upstream_http_x", "a_var"]
    headers, maps = merge_error_headers([(s, "X", v) for s in (500, 502) for v in sources])
    assert {h[2] for h in headers} == {"apigen_error_header_1"}
    assert maps == (
        FallbackMap("a_var", "apigen_error_header_0", "b_var"),
        FallbackMap("upstream_http_x", "apigen_error_header_1", "apigen_error_header_0"),
    )
