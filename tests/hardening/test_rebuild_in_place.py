"""The README's way of running a bundle: `nginx -p <bundle>/ -c nginx.conf`, then `apigen build`
again into the same directory and `nginx -p <bundle>/ -s reload`. The rebuild keeps the running
nginx's pid file and logs (logs/), so the reload finds the master, the new route answers, and the
access log holds the requests from before and after the rebuild."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from apigen import cli
from tests.support.http import request
from tests.support.nginx import nginx_binary, requires_nginx
from tests.support.ports import free_port
from tests.support.workspace import base_inputs, write_workspace

pytestmark = [pytest.mark.live, requires_nginx]
HOST = "api.example.com"


def _build(tmp: Path, out: Path, port: int, backend: str, extra_route: bool) -> None:
    policy, spec = base_inputs()
    policy["gateway"]["listen"] = f"127.0.0.1:{port}"
    del policy["gateway"]["tls"]
    policy["upstreams"]["main"]["servers"][0]["address"] = backend
    if extra_route:
        spec["paths"]["/items/{id}/tags"] = {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "listItemTags", "responses": {"200": {"description": "ok"}}},
        }
    policy_file = write_workspace(tmp / ("ws-new" if extra_route else "ws-old"), policy, spec)
    result = CliRunner().invoke(cli.main, ["build", str(policy_file), "-o", str(out)])
    assert result.exit_code == 0, result.output


def _status(url: str) -> int:
    return request("GET", url, headers={"Host": HOST}).status


def test_rebuild_then_reload_in_the_bundle_directory(tmp_path: Path, echo_backend) -> None:
    backend = echo_backend("main")
    port = free_port()
    out = tmp_path / "bundle"
    _build(tmp_path, out, port, backend.address, extra_route=False)
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

        _build(tmp_path, out, port, backend.address, extra_route=True)
        assert (out / "logs" / "nginx.pid").read_text().strip() == str(master.pid)
        reload = subprocess.run([*nginx, "-s", "reload"], capture_output=True, text=True, timeout=10)
        assert reload.returncode == 0, reload.stderr
        deadline = time.monotonic() + 10
        while _status(url + "/tags") != 200:
            assert time.monotonic() < deadline, "the rebuilt route never answered"
            time.sleep(0.05)

        quit_ = subprocess.run([*nginx, "-s", "quit"], capture_output=True, text=True, timeout=10)
        assert quit_.returncode == 0, quit_.stderr
        master.wait(timeout=10)
        log = (out / "logs" / "access.log").read_text()
        assert '"/v1/items/7"' in log or "/v1/items/7 " in log, log
        assert "/v1/items/7/tags" in log, log
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], "temporary directories left"
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()
