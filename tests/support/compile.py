"""Compile small in-memory cases: write a policy (and specs) into a directory, run the pipeline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from apigen.diagnostics import CompileError, Diagnostic
from apigen.pipeline import Compiled, compile_policy

UPSTREAM = {"servers": [{"address": "127.0.0.1:9001"}]}


def write_case(root: Path, policy: dict[str, Any] | str, specs: dict[str, Any] | None = None) -> Path:
    """Write ``policy`` (a mapping, written as JSON, or YAML text) and ``specs`` (file name -> mapping
    or text) into ``root``; return the policy path. JSON text keeps keys such as ``on`` intact."""
    root.mkdir(parents=True, exist_ok=True)
    for name, spec in (specs or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(spec if isinstance(spec, str) else json.dumps(spec, indent=2))
    policy_path = root / "policy.yaml"
    policy_path.write_text(policy if isinstance(policy, str) else json.dumps(policy, indent=2))
    return policy_path


def openapi(paths: dict[str, Any], version: str = "3.0.3", **extra: Any) -> dict[str, Any]:
    """A minimal valid document; path parameters are declared at path level unless given."""
    paths = {key: _with_path_params(key, item) for key, item in paths.items()}
    doc: dict[str, Any] = {"openapi": version, "info": {"title": "t", "version": "1"}, "paths": paths}
    doc.update(extra)
    return doc


def _with_path_params(key: str, item: dict[str, Any]) -> dict[str, Any]:
    names = re.findall(r"\{([^{}/]+)\}", key.split("#")[0])
    if not names or "parameters" in item or "$ref" in item:
        return item
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
    return {"parameters": params, **item}


def ops(*methods: str, op_prefix: str = "") -> dict[str, Any]:
    """A path item with the given methods; operationIds ``<prefix><method>``."""
    return {m: {"operationId": f"{op_prefix}{m}", "responses": {"200": {"description": "ok"}}} for m in methods}


def simple_policy(spec: str = "openapi.json", **api: Any) -> dict[str, Any]:
    entry = {"name": "api", "spec": spec, "upstream": "u", **api}
    return {"upstreams": {"u": UPSTREAM}, "apis": [entry]}


def compile_case(
    root: Path, policy: dict[str, Any] | str, specs: dict[str, Any] | None = None, *, render: bool = False
) -> Compiled:
    return compile_policy(write_case(root, policy, specs), render=render, display="policy.yaml")


def errors_of(root: Path, policy: dict[str, Any] | str, specs: dict[str, Any] | None = None) -> list[Diagnostic]:
    """The errors compiling the case raises (fails the test when it compiles cleanly)."""
    try:
        compile_case(root, policy, specs)
    except CompileError as exc:
        return exc.diagnostics.errors
    raise AssertionError("expected the case to fail to compile")
