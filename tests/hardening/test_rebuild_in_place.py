"""The README's way of running a bundle: `nginx -p <bundle>/ -c nginx.conf`, then `apigen build`
again into the same directory and `nginx -p <bundle>/ -s reload`. The rebuild keeps the running
nginx's pid file and logs (logs/), so the reload finds the master, the new route answers, and the
access log holds the requests from before and after the rebuild."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.support.http import request
from tests.support.nginx import nginx_binary, requires_nginx
from tests.support.ports import free_port
from tests.support.rebuild import build_base, wait_until_answering

pytestmark = [pytest.mark.live, requires_nginx]
HOST = "api.example.com"


def _status(url: str) -> int:
    return request("GET", url, headers={"Host": HOST}).status


def test_rebuild_then_reload_in_the_bundle_directory(tmp_path: Path, echo_backend) -> None:
    backend = echo_backend("main")
    port = free_port()
    out = tmp_path / "bundle"
    build_base(tmp_path, out, port, backend.address, extra_route=False, name="ws-old")
    nginx = [nginx_binary(), "-p", f"{out}/", "-c", "nginx.conf"]
    master = subprocess.Popen([*nginx, "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1/items/7"
        wait_until_answering(lambda: _status(url), master)
        assert _status(url + "/tags") == 404

        build_base(tmp_path, out, port, backend.address, extra_route=True, name="ws-new")
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
