"""No configuration injection: hostile strings in every user-controlled field either are rejected
with a positioned error, or reach nginx as exactly the intended value.

For each field of `injection_fields.FIELDS`, a baseline bundle is built with a harmless placeholder;
then hypothesis builds bundles with hostile values (`;`, `{`, `}`, `#`, `$var`, `${x}`, quotes,
trailing backslashes, newlines, tabs, NUL, non-ASCII, very long strings). Each built bundle must
parse with crossplane into exactly the baseline's directive tree, with the placeholder replaced by
the value (or its declared transform: a regex escape, a generated name), no new `$` in evaluated
arguments, and pass `nginx -t`. Profiles: see conftest.py (APIGEN_HYPOTHESIS_PROFILE=thorough).
"""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from apigen.diagnostics import CompileError
from apigen.pipeline import compile_policy
from apigen.render.quoting import MAX_TOKEN_BYTES, token_bytes
from apigen.verify import parse_bundle, run_nginx_t
from tests.hardening.injection_fields import FIELDS, PLACEHOLDER, Field
from tests.hardening.nginx_tree import compare_payloads
from tests.support.nginx import nginx_binary, requires_nginx
from tests.support.workspace import base_inputs, write_default_tls, write_workspace

TOKENS = [
    ";", "{", "}", "#", "$", "$var", "$host", "${x}", "${apigen_dollar}", '"', "'", "\\", "\n", "\r\n", "\t",
    "\x00", "\x7f", " ", "a", "Z9", "-", "_", ".", "/", "~", "*", "?", "%", "%0a", "&", "=", "(", ")", "[", "]",
    "|", "^", "+", ",", ":", "@", "!", "é", "日本", "😀", "\u202e", "include ", "location /x ", "return 200 ",
    "'}", '";', "\\n",
]  # fmt: skip
_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Co", "Cn", "Zl", "Zp")), min_size=1, max_size=40
)
_TOKENS = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map("".join)
HOSTILE = st.one_of(
    _TOKENS,
    _TOKENS.map(lambda s: s + "\\"),  # trailing backslash: crossplane would write an unclosed quote
    _TEXT,
    st.tuples(_TOKENS, st.integers(200, 2000)).map(lambda t: (t[0] * t[1])[:4000]),  # very long
)


def _build(field: Field, value: str, ws: Path) -> tuple[str, Any]:
    policy, spec = base_inputs()
    write_default_tls(ws)  # before inject: a hostile file name must not replace these
    placed = field.inject(policy, spec, value, ws)
    path = write_workspace(ws, policy, spec)
    try:
        result = compile_policy(path, display=str(path))
    except CompileError as exc:
        return "rejected", exc.diagnostics.errors
    if placed is False:
        return "unplaceable", None
    out = ws / "bundle"
    assert result.bundle is not None
    result.bundle.write_tree(out)
    return "built", out


@functools.cache
def _baseline(field_name: str) -> dict[str, Any]:
    field = next(f for f in FIELDS if f.name == field_name)
    with tempfile.TemporaryDirectory() as tmp:
        outcome, out = _build(field, PLACEHOLDER, Path(tmp))
        assert outcome == "built", f"baseline of {field_name} does not build: {out}"
        parsed = parse_bundle(out)
        assert parsed.ok, parsed.errors
        text = "".join(p.read_text() for p in out.rglob("*.conf"))
        assert (PLACEHOLDER in text) == field.reaches_config, f"{field_name}: reaches_config is wrong"
        return parsed.payload


def _positioned(errors: list, ws: Path) -> None:
    assert errors, "rejected without an error"
    for err in errors:
        assert err.message.strip(), err
        assert err.position is not None and err.position.line >= 1, f"error without a position: {err.format()}"
        assert Path(err.position.file).name in ("policy.json", "openapi.json"), err.format()
        assert "Traceback" not in err.message


@requires_nginx
@pytest.mark.parametrize("field", FIELDS, ids=[f.name for f in FIELDS])
@given(data=st.data())
def test_hostile_value_is_rejected_or_round_trips(field: Field, data: st.DataObject) -> None:
    value = data.draw(HOSTILE, label="value")
    assume(field.usable(value))
    expected = field.accepts(value)
    if expected and token_bytes(value, variables=True) * 4 > MAX_TOKEN_BYTES:
        expected = None  # may exceed nginx's 4096-byte token buffer once embedded: rejecting is right
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        outcome, out = _build(field, value, ws)
        note(f"outcome: {outcome}")
        if outcome == "unplaceable":
            pytest.fail(f"{field.name}: the inputs could not hold {value!r}, yet the build succeeded")
        if outcome == "rejected":
            assert expected is not True, f"{field.name}: {value!r} must be accepted, got {[e.format() for e in out]}"
            _positioned(out, ws)
            return
        assert expected is not False, f"{field.name}: {value!r} must be rejected, but it built"
        parsed = parse_bundle(out)
        assert parsed.ok, parsed.errors
        intended = field.intended(value)
        candidates = [(t(PLACEHOLDER), t(intended)) for t in field.transforms]
        compare_payloads(_baseline(field.name), parsed.payload, PLACEHOLDER, candidates)
        if nginx_binary() and field.nginx_t(value):
            check = run_nginx_t(out)
            assert check.ok, check.output


def test_every_field_reaches_the_configuration() -> None:
    """The baseline of each field carries the placeholder, so the property test compares something."""
    for field in FIELDS:
        payload = _baseline(field.name)
        assert payload["config"]


@pytest.mark.parametrize(
    "value",
    ['x"; return 200 "pwned', "x;\ninclude /etc/passwd;#", "${host}", "$request_uri", "a\\", "#comment", "}"],
)
def test_known_injections_in_header_values_stay_one_argument(value: str, tmp_path: Path) -> None:
    """Readable regression cases for the property above (header values accept nearly anything)."""
    field = next(f for f in FIELDS if f.name == "policy.headers.response.value")
    outcome, out = _build(field, value, tmp_path)
    if "\n" in value:
        assert outcome == "rejected"
        return
    assert outcome == "built"
    parsed = parse_bundle(out)
    compare_payloads(_baseline(field.name), parsed.payload, PLACEHOLDER, [value])
    text = (out / "api_conf.d" / "main.conf").read_text()
    assert re.search(r'add_header "X-Hostile" ".*" always;', text)


def test_the_comparison_catches_a_quoting_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Break the quoting function on purpose: the property's check must then fail."""
    from apigen.render import renderer

    def broken(value: object, *, variables: bool = False) -> renderer.Arg:
        return renderer.Arg('"' + str(value) + '"')  # no escaping at all

    field = next(f for f in FIELDS if f.name == "policy.headers.response.value")
    _baseline(field.name)
    monkeypatch.setattr(renderer, "quote", broken)
    renderer.environment.cache_clear()
    try:
        for value in ['x" always; add_header "Evil" "1', "$host"]:
            outcome, out = _build(field, value, tmp_path / str(len(value)))
            assert outcome == "built"
            with pytest.raises(AssertionError):
                compare_payloads(_baseline(field.name), parse_bundle(out).payload, PLACEHOLDER, [value])
    finally:
        renderer.environment.cache_clear()
