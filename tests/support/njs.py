"""Run generated validator code with Debian's `njs` command-line interpreter."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from apigen.validation.compile_njs import RUNTIME, SchemaCompiler

requires_njs_cli = pytest.mark.skipif(shutil.which("njs") is None, reason="no njs CLI (apt-get install njs)")


def _no_refs(ref: str, uri: str) -> tuple[Any, str, str]:
    raise KeyError(ref)


def compile_schema(schema: Any, resolve=_no_refs) -> tuple[SchemaCompiler, str]:
    compiler = SchemaCompiler(resolve)
    return compiler, compiler.compile(schema, "file:///test.json", "")


def run_validator(schema: Any, instances: list[Any], max_errors: int = 20, resolve=_no_refs) -> list[list[str]]:
    """The violation list the generated code reports for each instance (empty: valid)."""
    compiler, fn = compile_schema(schema, resolve)
    harness = (
        f"var CASES = {json.dumps(instances, ensure_ascii=True)};\n"
        "var out = [];\n"
        f'for (var c = 0; c < CASES.length; c++) {{ var e = errors({max_errors}); {fn}(CASES[c], "", e); out.push(e); }}\n'
        "console.log(JSON.stringify(out));\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "validator.js"
        path.write_text(RUNTIME + compiler.source() + harness)
        proc = subprocess.run(["njs", str(path)], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise AssertionError(f"njs failed ({proc.returncode}): {proc.stderr}{proc.stdout}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
