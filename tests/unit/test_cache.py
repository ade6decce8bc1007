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


@pytest.fixture
def umask_000():
    import os

    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_cache_directories_and_files_are_private_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_000: None
) -> None:
    """Found by a hunt: the cache was made with the process umask (0777 under umask 0), and
    Jinja2 loads compiled templates from it as code; a marker there skips validating a document."""
    from apigen import cache
    from apigen.lint import cache as lint_cache

    root = tmp_path / "deep" / "cache"
    monkeypatch.setenv("APIGEN_CACHE_DIR", str(root))
    monkeypatch.delenv("APIGEN_NO_CACHE", raising=False)
    cache.put_marker("validated-specs", "k")
    policy = tmp_path / "p.yaml"
    policy.write_text("x: 1\n")
    lint_cache.store(policy, [], {"findings": []})
    assert lint_cache.lookup(policy) == {"findings": []}
    dirs = [root, root / "validated-specs", root / "lint", tmp_path / "deep"]
    assert {d.name: _mode(d) for d in dirs} == {d.name: 0o700 for d in dirs}
    files = [root / "validated-specs" / "k", *(root / "lint").iterdir()]
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_a_cache_directory_others_can_write_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from apigen import cache
    from apigen.lint import cache as lint_cache

    root = tmp_path / "cache"
    monkeypatch.setenv("APIGEN_CACHE_DIR", str(root))
    monkeypatch.delenv("APIGEN_NO_CACHE", raising=False)
    policy = tmp_path / "p.yaml"
    policy.write_text("x: 1\n")
    cache.put_marker("validated-specs", "k")
    lint_cache.store(policy, [], {"findings": []})
    for part in ("validated-specs", "lint"):
        (root / part).chmod(0o777)  # anyone could have planted what is there
    assert not cache.has_marker("validated-specs", "k")
    assert cache.cache_dir("validated-specs") is None
    assert lint_cache.lookup(policy) is None


@pytest.mark.parametrize("failing", ["write", "read"])
def test_a_template_cache_that_fails_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Jinja2 raises the OSError of its bytecode cache: on a full disk the build was an internal
    error (exit 3) instead of a build without the cache."""
    import errno

    import jinja2.bccache

    from apigen.pipeline import compile_policy
    from apigen.render import renderer

    policy = Path(__file__).resolve().parents[2] / "examples" / "petstore" / "policy.yaml"
    monkeypatch.setenv("APIGEN_NO_CACHE", "1")
    renderer.environment.cache_clear()
    expected = compile_policy(policy).bundle
    assert expected is not None

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.delenv("APIGEN_NO_CACHE")
    monkeypatch.setenv("APIGEN_CACHE_DIR", str(tmp_path / "cache"))
    if failing == "read":
        renderer.environment.cache_clear()
        compile_policy(policy)  # fills the cache
        monkeypatch.setattr(jinja2.bccache.Bucket, "load_bytecode", fail)
    else:
        monkeypatch.setattr(jinja2.bccache.Bucket, "write_bytecode", fail)
    renderer.environment.cache_clear()
    try:
        assert compile_policy(policy).bundle == expected
    finally:
        renderer.environment.cache_clear()
