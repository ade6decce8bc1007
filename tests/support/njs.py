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
    # One line per instance: njs's console.log cuts a line at 2048 bytes.
    harness = (
        f"var CASES = {json.dumps(instances, ensure_ascii=True)};\n"
        "for (var c = 0; c < CASES.length; c++) {\n"
        f'    var e = errors({max_errors}); check({fn}, CASES[c], "", e); console.log("R" + JSON.stringify(e));\n'
        "}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "validator.js"
        path.write_text(RUNTIME + compiler.source() + harness)
        proc = subprocess.run(["njs", str(path)], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise AssertionError(f"njs failed ({proc.returncode}): {proc.stderr}{proc.stdout}")
    lines = [line[1:] for line in proc.stdout.split("\n") if line.startswith("R")]
    assert len(lines) == len(instances), proc.stdout
    return [json.loads(line) for line in lines]
