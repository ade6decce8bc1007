"""Is an OpenAPI document valid? Answered fast: large documents are checked in slices of their
``paths`` on every core at once, each slice with the fastest schema backend installed.

openapi-spec-validator spends most of a large document's time in per-path Python checks. A
document with a subset of the paths and everything else unchanged is checked exactly like those
paths in the whole document; the only state its checks carry from one path to the next is the
set of operationIds seen (duplicates), which is checked here over the whole document. So the
document is valid exactly when every slice is and no operationId repeats. Any doubt (an error,
an exception, a platform without ``fork``) answers "not known valid", and the caller runs the
full, reporting validation.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from apigen.load.spec_loader import SpecSet
from apigen.validate import prewarm
from apigen.validate.openapi_validators import document_is_valid

# Below this many operations one process is as fast as forking (measured: a fork and a slice of
# 500 operations cost about the same as the slice's checks).
PARALLEL_MIN_OPERATIONS = 1000
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

_job: tuple[str, dict[str, Any], str] | None = None  # (version, document, base uri) for forked workers


def is_valid(specs: SpecSet, version: str) -> bool:
    """True when the document is certainly valid; False when it is not, or not certainly."""
    root = specs.root
    paths = root.get("paths") if isinstance(root, Mapping) else None
    workers = _workers(paths)
    try:
        if workers < 2 or not isinstance(paths, Mapping):
            # The validator process started with the command has the validator imported already.
            answer = prewarm.ask(version, root, specs.root_uri)
            return document_is_valid(version, root, specs.root_uri) if answer is None else answer
        prewarm.stop()  # the cores go to the slices
        if _duplicate_operation_ids(paths):
            return False
        return _parallel_valid(version, root, specs.root_uri, paths, workers)
    except Exception:
        return False


def _workers(paths: object) -> int:
    if sys.platform != "linux" or not isinstance(paths, Mapping) or threading.active_count() > 1:
        return 1  # fork is cheap here and safe in a single-threaded process; elsewhere one process
    operations = sum(len(_METHODS & set(item)) for item in paths.values() if isinstance(item, Mapping))
    cpus = len(os.sched_getaffinity(0))
    return max(1, min(cpus, 8, operations // (PARALLEL_MIN_OPERATIONS // 2)))


def _duplicate_operation_ids(paths: Mapping[str, Any]) -> bool:
    seen: set[object] = set()
    for item in paths.values():
        if not isinstance(item, Mapping):
            continue
        for method, op in item.items():
            if method in _METHODS and isinstance(op, Mapping) and "operationId" in op:
                op_id = op["operationId"]
                if not isinstance(op_id, str) or op_id in seen:
                    return True
                seen.add(op_id)
    return False


def _slices(paths: Mapping[str, Any], n: int) -> list[dict[str, Any]]:
    """``n`` contiguous slices of ``paths`` with about as many operations each."""
    items = list(paths.items())
    weights = [max(1, len(_METHODS & set(v))) if isinstance(v, Mapping) else 1 for _, v in items]
    total, out, current, acc = sum(weights), [], {}, 0
    for (key, value), w in zip(items, weights, strict=True):
        current[key] = value
        acc += w
        if acc >= total * (len(out) + 1) / n and len(out) < n - 1:
            out.append(current)
            current = {}
    out.append(current)
    return [s for s in out if s]


def _check_slice(index: int) -> bool:
    assert _job is not None
    version, document, base_uri = _job
    return document_is_valid(version, document | {"paths": _slices(document["paths"], _job_slices)[index]}, base_uri)


_job_slices = 0


def _parallel_valid(version: str, root: dict[str, Any], base_uri: str, paths: Mapping[str, Any], workers: int) -> bool:
    # Imported here: 10 ms of start-up that small documents never need.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    global _job, _job_slices
    slices = _slices(paths, workers)
    _job, _job_slices = (version, root, base_uri), len(slices)
    try:
        # Forked workers inherit the parsed document; the last slice is checked here meanwhile.
        with ProcessPoolExecutor(max_workers=len(slices) - 1, mp_context=get_context("fork")) as pool:
            futures = [pool.submit(_check_slice, i) for i in range(len(slices) - 1)]
            mine = _check_slice(len(slices) - 1)
            return mine and all(f.result() for f in futures)
    finally:
        _job, _job_slices = None, 0
