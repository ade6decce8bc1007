"""Build a policy (given as data) against a small pets spec, verify the bundle, return its dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from apigen.verify import check_directives_for_target, parse_bundle, run_nginx_t

from .nginx import nginx_available

PETS_SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "pets", "version": "1"},
    "paths": {
        "/pets": {
            "get": {"operationId": "listPets", "tags": ["pets"], "responses": {"200": {"description": "ok"}}},
            "post": {"operationId": "createPet", "tags": ["pets"], "responses": {"201": {"description": "ok"}}},
        },
        "/pets/{petId}": {
            "parameters": [{"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "showPet", "tags": ["pets"], "responses": {"200": {"description": "ok"}}},
            "delete": {"operationId": "deletePet", "tags": ["admin"], "responses": {"204": {"description": "ok"}}},
        },
        "/owners/{ownerId}/pets/{petId}": {
            "parameters": [
                {"name": "ownerId", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "get": {"operationId": "ownerPet", "responses": {"200": {"description": "ok"}}},
        },
    },
}


def policy_for(port: int, upstreams: dict[str, list[str]], **extra: Any) -> dict[str, Any]:
    """A policy with one `pets` API at /v1 on upstream `main` (the first of ``upstreams``)."""
    api: dict[str, Any] = {"name": "pets", "spec": "pets.json", "base_path": "/v1", "upstream": next(iter(upstreams))}
    api.update(extra.pop("api", {}))
    policy: dict[str, Any] = {
        "target": extra.pop("target", {"flavor": "oss", "version": "1.22"}),
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "operation_header": "X-Apigen-Operation",
            **extra.pop("gateway", {}),
        },
        "upstreams": {
            name: {"servers": [{"address": a} for a in addrs], **extra.pop(f"upstream_{name}", {})}
            for name, addrs in upstreams.items()
        },
        "policies": extra.pop("policies", {}),
        "apis": [api],
    }
    assert not extra, extra
    return policy


def build(tmp_path: Path, policy: dict[str, Any], *, nginx_t: bool = True, name: str = "bundle") -> Path:
    """Compile, write, parse back with crossplane, check the target's directive table and, for
    OSS, run `nginx -t`. Returns the bundle directory."""
    src = tmp_path / f"{name}-src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "pets.json").write_text(json.dumps(PETS_SPEC))
    (src / "policy.json").write_text(json.dumps(policy, indent=1))
    result = compile_policy(src / "policy.json")
    out = tmp_path / name
    assert result.bundle is not None
    write_atomic(result.bundle, out)
    parsed = parse_bundle(out)
    assert parsed.ok, parsed.errors
    assert check_directives_for_target(parsed.payload, result.config.target) == []
    if nginx_t and not result.config.target.is_plus and nginx_available():
        res = run_nginx_t(out)
        assert res.ok, res.output
    return out


def compile_errors(tmp_path: Path, policy: dict[str, Any]) -> list[str]:
    """The diagnostics of a policy that must not compile, as `file:line:col: message` strings."""
    from apigen.diagnostics import CompileError

    src = tmp_path / "bad-src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "pets.json").write_text(json.dumps(PETS_SPEC))
    (src / "policy.json").write_text(json.dumps(policy, indent=1))
    try:
        compile_policy(src / "policy.json")
    except CompileError as exc:
        return [d.format() for d in exc.diagnostics.errors]
    raise AssertionError("policy compiled, expected errors")
