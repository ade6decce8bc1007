"""Build a bundle from a policy and an OpenAPI document given as Python data (for tests).

Both are written as JSON (valid YAML; never PyYAML-dumped, which turns the key `on` into `true`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from apigen.verify import parse_bundle, run_nginx_t


def openapi(paths: dict[str, dict[str, str]], title: str = "t") -> dict[str, Any]:
    """``{"/users/{id}": {"get": "getUser"}}`` -> a minimal OpenAPI 3.0 document."""
    out: dict[str, Any] = {}
    for path, methods in paths.items():
        params = [
            {"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
            for p in path.split("/")
            if p.startswith("{") and p.endswith("}")
        ]
        out[path] = {
            m: {"operationId": op, "parameters": params, "responses": {"200": {"description": "ok"}}}
            for m, op in methods.items()
        }
    return {"openapi": "3.0.3", "info": {"title": title, "version": "1"}, "paths": out}


def write_inputs(root: Path, policy: dict[str, Any], specs: dict[str, dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, spec in specs.items():
        (root / name).write_text(json.dumps(spec, indent=1))
    path = root / "policy.yaml"
    path.write_text(json.dumps(policy, indent=1))
    return path


def build(root: Path, policy: dict[str, Any], specs: dict[str, dict[str, Any]], *, check: bool = True) -> Path:
    """Compile into ``root/bundle``; with ``check``, assert crossplane parse and ``nginx -t`` pass."""
    policy_path = write_inputs(root / "in", policy, specs)
    compiled = compile_policy(policy_path)
    assert compiled.bundle is not None
    out = root / "bundle"
    write_atomic(compiled.bundle, out)
    if check:
        parsed = parse_bundle(out)
        assert parsed.ok, parsed.errors
        result = run_nginx_t(out)
        assert result.ok, result.output
    return out
