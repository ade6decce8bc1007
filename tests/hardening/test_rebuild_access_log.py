"""The JSON access log (`gateway.access_log.path`) across a rebuild in place under a running nginx.

A path relative to nginx's prefix (the bundle, run standalone) outside `logs/`, e.g.
`access.json.log`, or an absolute path into the output directory, named a file inside the
directory each rebuild swaps out: the log written so far was deleted with the previous bundle,
and nginx wrote to the unlinked file until the reload (found by a hunt). Such paths are refused;
under `logs/` the log keeps every line across the rebuild and the reload.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from apigen import cli
from tests.support.http import request
from tests.support.nginx import nginx_binary, requires_nginx
from tests.support.ports import free_port
from tests.support.rebuild import wait_until_answering
from tests.support.workspace import base_inputs, write_workspace

HOST = "api.example.com"


def _policy(tmp: Path, port: int, backend: str, path: str) -> Path:
    policy, spec = base_inputs()
    policy["gateway"]["listen"] = f"127.0.0.1:{port}"
    del policy["gateway"]["tls"]
    policy["gateway"]["access_log"] = {"path": path}
    policy["upstreams"]["main"]["servers"][0]["address"] = backend
    return write_workspace(tmp / "ws", policy, spec)


def _build(policy: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["build", str(policy), "-o", str(out)])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("access.json.log", True),
        ("njs/access.json.log", True),
        ("logs/../access.json.log", True),
        ("{out}/access.json.log", True),
        ("logs/access.json.log", False),
        ("logs/json/../gw.log", False),
        ("temp/access.json.log", False),
        ("../access.json.log", False),
        ("{tmp}/access.json.log", False),
        ("off", False),
    ],
)
def test_a_log_the_rebuild_would_take_away_is_refused(tmp_path: Path, path: str, refused: bool) -> None:
    out = tmp_path / "bundle"
    code, output = _build(_policy(tmp_path, 8080, "127.0.0.1:9", path.format(out=out, tmp=tmp_path)), out)
    if refused:
        assert code == 1 and "access_log path" in output and not out.exists(), output
    else:
        assert code == 0, output


@pytest.mark.live
@requires_nginx
def test_the_log_under_logs_keeps_its_lines_across_a_rebuild_and_a_reload(tmp_path: Path, echo_backend) -> None:
    backend = echo_backend("main")
    port = free_port()
    out = tmp_path / "bundle"
    policy = _policy(tmp_path, port, backend.address, "logs/access.json.log")
    assert _build(policy, out)[0] == 0
    nginx = [nginx_binary(), "-p", f"{out}/", "-c", "nginx.conf"]
    master = subprocess.Popen([*nginx, "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
    log = out / "logs" / "access.json.log"

    def status(n: int) -> int:
        return request("GET", f"http://127.0.0.1:{port}/v1/items/{n}", headers={"Host": HOST}).status

    def get(n: int) -> None:
        assert status(n) == 200

    def logged() -> list[str]:
        return [json.loads(line)["uri"] for line in log.read_text().splitlines()] if log.exists() else []

    try:
        wait_until_answering(lambda: status(1), master)
        assert _build(policy, out)[0] == 0
        get(2)  # the previous configuration, after the rebuild
        reload = subprocess.run([*nginx, "-s", "reload"], capture_output=True, text=True, timeout=10)
        assert reload.returncode == 0, reload.stderr
        time.sleep(0.5)
        get(3)
        deadline = time.monotonic() + 5
        while len(logged()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert logged() == ["/v1/items/1", "/v1/items/2", "/v1/items/3"]
    finally:
        if master.poll() is None:
            master.terminate()
            master.wait(timeout=10)
