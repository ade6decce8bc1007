"""Path shapes that stress routing, end to end on a real nginx: case-only differences, spaces and
percent-encoding, `@`, `:`, `+`, brackets, mid-segment parameters, templated first segments."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

PATHS = {
    "/Pets": "upperPets",
    "/pets": "lowerPets",
    "/a b/{x}": "spaced",
    "/caf%C3%A9": "encoded",
    "/users/@me": "me",
    "/users/{id}": "user",
    "/files/{id}.json": "fileJson",
    "/files/{name}.{ext}": "fileAny",
    "/files/{id}": "file",
    "/v1:batch": "batch",
    "/tags/c++": "cpp",
    "/x[0]/{y}": "bracket",
    "/{tenant}/pets/{id}": "tenantPet",
    "/shop/pets/{id}": "shopPet",
    "/q/a.b": "dotted",
}

# request target -> operation it must reach (None: JSON 404)
REQUESTS = {
    "/Pets": "upperPets",
    "/pets": "lowerPets",
    "/PETS": None,
    "/a%20b/1": "spaced",
    "/caf%C3%A9": "encoded",
    "/users/@me": "me",
    "/users/%40me": "me",  # nginx matches the decoded URI
    "/users/me": "user",
    "/files/7.json": "fileJson",
    "/files/7.yaml": "fileAny",
    "/files/7": "file",
    "/v1:batch": "batch",
    "/v1xbatch": None,
    "/tags/c++": "cpp",
    "/tags/cc": None,
    "/x[0]/1": "bracket",
    "/x0/1": None,
    "/acme/pets/1": "tenantPet",
    "/shop/pets/1": "shopPet",
    "/q/a.b": "dotted",
    "/q/axb": None,
}


def _spec() -> dict:
    paths = {}
    for path, op_id in PATHS.items():
        names = [seg[1:-1] for part in path.split("/") for seg in _params(part)]
        item: dict = {"get": {"operationId": op_id, "responses": {"200": {"description": "ok"}}}}
        if names:
            item["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
        paths[path] = item
    return {"openapi": "3.0.3", "info": {"title": "edge", "version": "1"}, "paths": paths}


def _params(segment: str) -> list[str]:
    return re.findall(r"\{[^{}]*\}", segment)


def start_gateway(tmp_path: Path, backend, nginx_runner, *, gateway: dict | None = None, upstream: dict | None = None):
    port = free_port()
    (tmp_path / "spec.json").write_text(json.dumps(_spec()))
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "worker_processes": 1, **(gateway or {})},
        "upstreams": {"u": {"servers": [{"address": backend.address}], **(upstream or {})}},
        "apis": [{"name": "edge", "spec": "spec.json", "upstream": "u"}],
    }
    (tmp_path / "policy.yaml").write_text(json.dumps(policy))
    compiled = compile_policy(tmp_path / "policy.yaml")
    assert compiled.bundle is not None
    write_atomic(compiled.bundle, tmp_path / "bundle")
    return nginx_runner(tmp_path / "bundle", port)


def test_edge_paths_route_to_their_operations(tmp_path: Path, echo_backend, nginx_runner) -> None:
    nginx = start_gateway(tmp_path, echo_backend("edge"), nginx_runner, gateway={"operation_header": "X-Op"})
    wrong = []
    for target, op in REQUESTS.items():
        r = request("GET", nginx.url + target)
        if op is None:
            got = (r.status, r.headers["Content-Type"])
            want: tuple = (404, "application/json")
        else:
            echo = r.json() if r.status == 200 else {}
            got = (r.status, echo.get("headers", {}).get("x-op"), echo.get("uri"))
            want = (200, f"edge.{op}", target)
        if got != want:
            wrong.append(f"{target}: got {got}, want {want}")
    assert not wrong, "\n".join(wrong)


def test_upstream_timeout_is_a_json_504(tmp_path: Path, echo_backend, nginx_runner) -> None:
    nginx = start_gateway(tmp_path, echo_backend("slow"), nginx_runner, upstream={"timeouts": {"read": "1s"}})
    r = request("GET", nginx.url + "/pets?__sleep=3", headers={"X-Request-ID": "slow-1"})
    assert (r.status, r.headers["Content-Type"], r.headers["X-Request-ID"]) == (504, "application/json", "slow-1")
    assert r.json() == {"status": 504, "error": "Gateway Timeout", "request_id": "slow-1"}
