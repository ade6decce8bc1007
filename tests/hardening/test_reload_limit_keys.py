"""A rebuild that changes what a rate or concurrency limit counts by, then `nginx -s reload`.

nginx keeps a shared-memory zone of the same name and size across a reload, with its states,
and refuses the whole new configuration when the zone's key text differs: `limit_req "..." uses
the "k:${http_x_tenant}" key while previously it used the "$binary_remote_addr" key` (emerg).
`nginx -t`, `apigen check` and `nginx -s reload` itself all succeed, so the previous configuration
kept running unnoticed (found by a hunt). The zone name now carries a digest of the key: the
reload is taken, the limit starts on a fresh zone.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from apigen import cli
from tests.support.http import request
from tests.support.nginx import nginx_binary, requires_nginx
from tests.support.ports import free_port
from tests.support.workspace import base_inputs, write_workspace

pytestmark = [pytest.mark.live, requires_nginx]
HOST = "api.example.com"

# (before, after) of one limit policy: a new key, a first exemption, a concurrency limit's key.
CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "rate-key": (
        {"kind": "rate_limit", "rate": "1000r/s"},
        {"kind": "rate_limit", "rate": "1000r/s", "key": "header:X-Tenant"},
    ),
    "rate-first-exemption": (
        {"kind": "rate_limit", "rate": "1000r/s"},
        {"kind": "rate_limit", "rate": "1000r/s", "exempt": {"ips": ["10.0.0.0/8"]}},
    ),
    "conn-key": (
        {"kind": "conn_limit", "max": 100},
        {"kind": "conn_limit", "max": 100, "key": "header:X-Tenant"},
    ),
}


def _build(tmp: Path, out: Path, port: int, backend: str, limit: dict[str, Any], name: str, extra_route: bool) -> None:
    policy, spec = base_inputs()
    policy["gateway"]["listen"] = f"127.0.0.1:{port}"
    del policy["gateway"]["tls"]
    policy["upstreams"]["main"]["servers"][0]["address"] = backend
    policy["policies"]["limit"] = limit
    policy["apis"][0]["use"].append("limit")
    if extra_route:
        spec["paths"]["/items/{id}/tags"] = {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "listItemTags", "responses": {"200": {"description": "ok"}}},
        }
    result = CliRunner().invoke(cli.main, ["build", str(write_workspace(tmp / name, policy, spec)), "-o", str(out)])
    assert result.exit_code == 0, result.output


def _status(url: str) -> int:
    return request("GET", url, headers={"Host": HOST, "X-Tenant": "acme"}).status


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_reload_after_a_limit_key_change_is_taken(tmp_path: Path, echo_backend, change: str) -> None:
    before, after = CHANGES[change]
    backend = echo_backend("main")
    port = free_port()
    out = tmp_path / "bundle"
    _build(tmp_path, out, port, backend.address, before, "ws-old", extra_route=False)
    nginx = [nginx_binary(), "-p", f"{out}/", "-c", "nginx.conf"]
    master = subprocess.Popen([*nginx, "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1/items/7"
        deadline = time.monotonic() + 10
        while True:
            try:
                assert _status(url) == 200
                break
            except OSError:
                assert master.poll() is None and time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        assert _status(url + "/tags") == 404

        _build(tmp_path, out, port, backend.address, after, "ws-new", extra_route=True)
        test = subprocess.run([*nginx, "-t"], capture_output=True, text=True, timeout=10)
        assert test.returncode == 0, test.stderr
        reload = subprocess.run([*nginx, "-s", "reload"], capture_output=True, text=True, timeout=10)
        assert reload.returncode == 0, reload.stderr
        deadline = time.monotonic() + 10
        while _status(url + "/tags") != 200:
            errors = [line for line in (out / "logs" / "error.log").read_text().splitlines() if "[emerg]" in line]
            assert not errors, f"the reload was refused: {errors}"
            assert time.monotonic() < deadline, "the rebuilt configuration never answered"
            time.sleep(0.05)
        assert _status(url) == 200
    finally:
        if master.poll() is None:
            master.terminate()
            master.wait(timeout=10)
