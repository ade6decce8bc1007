"""Fast validation (apigen.validate.parallel): slices of a large document checked on several
cores agree with the whole document, and anything wrong falls back to the reporting validator,
whose diagnostics do not depend on the schema backend installed."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from apigen.diagnostics import Diagnostics
from apigen.load.spec_loader import load_spec
from apigen.validate import parallel
from apigen.validate.spec_validate import validate_spec

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from gen_spec import generate  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="slices are checked in parallel only where fork is used")


@pytest.fixture
def sliced(monkeypatch):
    """Slices from 40 operations on: the synthetic documents below are split 2+ ways."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_OPERATIONS", 40)
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _pid: {0, 1, 2})
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)  # pytest-xdist runs threads
    monkeypatch.setenv("APIGEN_NO_CACHE", "1")


def _specs(tmp_path: Path, doc: dict):
    f = tmp_path / "spec.json"
    f.write_text(json.dumps(doc))
    return load_spec(f, tmp_path)


def test_valid_document_is_checked_in_slices(tmp_path: Path, sliced, monkeypatch) -> None:
    doc = generate(200)
    calls = []
    real = parallel._parallel_valid
    monkeypatch.setattr(parallel, "_parallel_valid", lambda *a: calls.append(a[-1]) or real(*a))
    assert parallel.is_valid(_specs(tmp_path, doc), "3.0")
    assert calls == [3]
    slices = parallel._slices(doc["paths"], 3)
    assert [list(s) for s in slices] and sum(len(s) for s in slices) == len(doc["paths"])
    assert [k for s in slices for k in s] == list(doc["paths"])  # contiguous, in order


@pytest.mark.parametrize("where", [0, -1])
def test_an_error_in_any_slice_is_found(tmp_path: Path, sliced, where: int) -> None:
    doc = generate(200)
    path = list(doc["paths"])[where]
    op = next(iter(doc["paths"][path].values()))
    op["responses"] = "not an object"
    specs = _specs(tmp_path, doc)
    assert not parallel.is_valid(specs, "3.0")
    diags = Diagnostics()
    assert not validate_spec(specs, "3.0", diags)
    assert any(path in d.message and "responses" in d.message for d in diags.errors), [d.message for d in diags.errors]


def test_duplicate_operation_ids_across_slices(tmp_path: Path, sliced) -> None:
    doc = generate(200)
    paths = list(doc["paths"])
    first = next(iter(doc["paths"][paths[0]].values()))
    last = next(iter(doc["paths"][paths[-1]].values()))
    last["operationId"] = first["operationId"]
    specs = _specs(tmp_path, doc)
    assert not parallel.is_valid(specs, "3.0")  # each slice alone is valid
    diags = Diagnostics()
    assert not validate_spec(specs, "3.0", diags)
    assert any("is not unique" in d.message for d in diags.errors)


def test_components_error_reported_once(tmp_path: Path, sliced) -> None:
    doc = copy.deepcopy(generate(200))
    doc["components"]["schemas"]["Resource"]["type"] = 17
    diags = Diagnostics()
    assert not validate_spec(_specs(tmp_path, doc), "3.0", diags)
    messages = [d.message for d in diags.errors]
    assert messages and len(messages) == len(set(messages))


def test_reporting_messages_do_not_depend_on_the_backend(tmp_path: Path) -> None:
    doc = {"openapi": "3.0.3", "info": {"title": "t"}, "paths": {}}  # no info.version
    diags = Diagnostics()
    assert not validate_spec(_specs(tmp_path, doc), "3.0", diags)
    assert [d.message for d in diags.errors] == ["invalid OpenAPI 3.0 document: info: 'version' is a required property"]
