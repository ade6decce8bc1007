"""The on-disk caches only ever skip work whose result is known: a changed document is validated
again, a broken one always reports its errors, and the policy schema stays a valid schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from apigen.diagnostics import Diagnostics
from apigen.load.spec_loader import load_spec
from apigen.validate import spec_validate
from apigen.validate.policy_schema import policy_schema

SPEC = """openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a:
    get:
      responses:
        "200": {$ref: "common.yaml#/ok"}
"""
COMMON = "ok: {description: fine}\n"


def test_policy_schema_is_a_valid_2020_12_schema() -> None:
    Draft202012Validator.check_schema(policy_schema())


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    monkeypatch.setenv("APIGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("APIGEN_NO_CACHE", raising=False)
    calls: list[int] = []
    real = spec_validate.is_valid  # every validation that is not a cache hit starts here

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(spec_validate, "is_valid", counting)
    return calls


def _validate(root: Path) -> tuple[bool, Diagnostics]:
    diags = Diagnostics()
    return spec_validate.validate_spec(load_spec(root, root.parent), "3.0", diags), diags


def test_unchanged_documents_are_validated_once(tmp_path: Path, counted: list[int]) -> None:
    (tmp_path / "api.yaml").write_text(SPEC)
    (tmp_path / "common.yaml").write_text(COMMON)
    assert _validate(tmp_path / "api.yaml")[0]
    assert _validate(tmp_path / "api.yaml")[0]
    assert len(counted) == 1


def test_a_changed_referenced_file_is_validated_again(tmp_path: Path, counted: list[int]) -> None:
    (tmp_path / "api.yaml").write_text(SPEC)
    (tmp_path / "common.yaml").write_text(COMMON)
    assert _validate(tmp_path / "api.yaml")[0]
    (tmp_path / "common.yaml").write_text("ok: {description: 5, content: 7}\n")
    ok, diags = _validate(tmp_path / "api.yaml")
    assert len(counted) == 2
    assert not ok and diags.errors


def test_failures_are_never_cached(tmp_path: Path, counted: list[int]) -> None:
    (tmp_path / "api.yaml").write_text(SPEC.replace("paths:", "pathz:"))
    (tmp_path / "common.yaml").write_text(COMMON)
    for _ in range(2):
        ok, diags = _validate(tmp_path / "api.yaml")
        assert not ok and diags.errors
    assert len(counted) == 2


def test_no_cache_env_turns_it_off(tmp_path: Path, counted: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIGEN_NO_CACHE", "1")
    (tmp_path / "api.yaml").write_text(SPEC)
    (tmp_path / "common.yaml").write_text(COMMON)
    assert _validate(tmp_path / "api.yaml")[0]
    assert _validate(tmp_path / "api.yaml")[0]
    assert len(counted) == 2
