"""Base paths as nginx sees them: decoded, and stripped whatever the raw spelling.

Found by a hunt: an encoded base path (`servers: [{url: /caf%C3%A9/v1}]`) was written encoded in
the locations (reachable only double-encoded), and `strip_base_path` matched the raw request
against the literal base path, so `/v%31/pets` (nginx: `/v1/pets`, authorised as listPets) went
upstream unstripped. `x-` keys of the Paths Object became routes; a `$ref` to `pet%20item.yaml`
crashed the build.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apigen.bundle import write_atomic
from apigen.diagnostics import CompileError
from apigen.pipeline import compile_policy
from tests.support.http import request, send_raw
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

OK = {"200": {"description": "ok"}}


def _inputs(root: Path, port: int, backend: str, server_url: str, **api) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "pet item.json").write_text(json.dumps({"get": {"operationId": "showPet", "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}], "responses": OK}}))
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": server_url}],
        "paths": {
            "/pets": {"get": {"operationId": "listPets", "responses": OK}},
            "/pets/{id}": {"$ref": "sub/pet%20item.json"},
            "x-internal": {"delete": {"operationId": "wipeAll", "responses": OK}},
        },
    }
    (root / "spec.json").write_text(json.dumps(spec))
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "operation_header": "X-Op"},
        "upstreams": {"u": {"servers": [{"address": backend}]}},
        "apis": [{"name": "pets", "spec": "spec.json", "upstream": "u", **api}],
    }
    (root / "policy.json").write_text(json.dumps(policy))
    return root / "policy.json"


@pytest.mark.live
@requires_nginx
def test_encoded_base_path_is_routed_decoded_and_stripped(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    compiled = compile_policy(_inputs(tmp_path / "in", port, backend.address, "https://api.example.com/caf%C3%A9/v1", strip_base_path=True))
    assert compiled.bundle is not None
    assert [(o.method, o.path) for o in compiled.config.apis[0].operations] == [("GET", "/pets"), ("GET", "/pets/{id}")]
    write_atomic(compiled.bundle, tmp_path / "bundle")
    nginx = nginx_runner(tmp_path / "bundle", port)
    raw = send_raw(port, "GET /café/v1/pets/7 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 200 ") and b'"uri": "/pets/7"' in raw, raw
    for spelling in ("/caf%C3%A9/v1", "/caf%c3%a9/v1"):
        r = request("GET", f"{nginx.url}{spelling}/pets/7?q=%2F")
        assert r.status == 200, (spelling, r.text)
        assert (r.json()["uri"], r.json()["headers"]["x-op"]) == ("/pets/7?q=%2F", "pets.showPet"), spelling
    # Encoded letters and digits are path confusion (no encoder writes them): 400.
    for spelling in ("/caf%c3%a9/v%31", "/%63af%C3%A9/%761"):
        assert request("GET", f"{nginx.url}{spelling}/pets/7").status == 400, spelling
    assert request("GET", f"{nginx.url}/caf%25C3%25A9/v1/pets").status == 404  # double-encoded: another path
    assert request("DELETE", f"{nginx.url}/caf%C3%A9/v1/x-internal").status == 404
    assert request("DELETE", f"{nginx.url}/x-internal").status == 404


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("./v1", "base path '/./v1' has a dot segment"),
        ("https://h/api//v2", "base path '/api//v2' has an empty segment"),
        ("/a/%2E%2E/v1", "base path '/a/../v1' has a dot segment"),
        ("/a%0Ab", "base path '/a\\nb' has a control character"),
    ],
)
def test_unroutable_base_paths_are_errors(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(CompileError) as exc:
        compile_policy(_inputs(tmp_path, 8080, "127.0.0.1:9", url))
    (error,) = exc.value.diagnostics.errors
    assert error.format().startswith(f"{tmp_path / 'spec.json'}:1:") and message in error.format(), error.format()


def test_policy_base_path_is_checked_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(CompileError) as exc:
        compile_policy(_inputs(tmp_path, 8080, "127.0.0.1:9", "/v1", base_path="/api/../v1"))
    assert [e.message for e in exc.value.diagnostics.errors] == ["base_path '/api/../v1' has a dot segment (nginx resolves those before routing: give the resolved path)"]
