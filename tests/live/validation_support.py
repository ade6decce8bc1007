"""Build a gateway with given policies and APIs, start it with echo backends (live tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from apigen.verify import parse_bundle, run_nginx_t
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
PETSTORE = REPO / "examples" / "petstore" / "openapi.yaml"


def build_gateway(
    tmp_path: Path,
    backend_address: str,
    policies: dict[str, Any],
    apis: list[dict[str, Any]],
    gateway_use: list[str] | None = None,
) -> tuple[Path, int]:
    port = free_port()
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "operation_header": "X-Apigen-Operation", "use": gateway_use or []},
        "upstreams": {"backend": {"servers": [{"address": backend_address}]}},
        "policies": policies,
        "apis": [{"upstream": "backend", **api} for api in apis],
    }
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy))
    compiled = compile_policy(policy_file)
    assert compiled.bundle is not None
    out = tmp_path / "bundle"
    write_atomic(compiled.bundle, out)
    assert parse_bundle(out).ok
    return out, port


def nginx_t_ok(bundle: Path) -> None:
    result = run_nginx_t(bundle)
    assert result.ok, result
