"""Reload under load: while wrk drives traffic through the gateway on loopback, the bundle is
rebuilt with a new route and nginx reloads (`nginx -s reload` = SIGHUP to the master). The new route
answers after the reload (and did not before), and:

* one request per connection (`Connection: close`): no request is lost: wrk reports zero socket
  errors and zero non-2xx answers, and every access-log line has status 200;
* keep-alive connections: nginx's graceful shutdown closes each old worker's idle keep-alive
  connections, and a request the client sends at that instant meets a reset (wrk counts a read
  error). HTTP/1.1 clients retry such requests (RFC 9112, 9.3.1); nginx never saw them, so nothing
  was half-done. The bound checked: at most one such error per connection and old worker, still
  zero non-2xx. Per old worker, because the old workers get the signal one after the other: a
  connection one of them closed can reconnect to another that still accepts, which then closes
  it as well once it is told to stop (seen in CI: 9 errors over 8 connections with 2 workers).
  Each worker closes its listening sockets before its idle connections, so once per worker.

Rate-limit accuracy under concurrency belongs to the rate-limit kind (branch `traffic`): see
docs/security.md, "Left for the rate-limit kind", for the test to add there.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.workspace import base_inputs, write_workspace

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    requires_nginx,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (Debian package wrk)"),
]
HOST = "api.example.com"
WRK_SECONDS = 4
CONNECTIONS = 8
WORKERS = 2


def _build(tmp: Path, name: str, port: int, backend: str, extra_route: bool) -> Path:
    policy, spec = base_inputs()
    policy["gateway"]["listen"] = f"127.0.0.1:{port}"
    del policy["gateway"]["tls"]
    policy["gateway"]["worker_processes"] = WORKERS
    policy["upstreams"]["main"]["servers"][0]["address"] = backend
    policy["upstreams"]["main"]["keepalive"] = 16
    if extra_route:
        spec["paths"]["/items/{id}/tags"] = {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "listItemTags", "responses": {"200": {"description": "ok"}}},
        }
    result = compile_policy(write_workspace(tmp / f"ws-{name}", policy, spec))
    assert result.bundle is not None
    write_atomic(result.bundle, tmp / name)
    return tmp / name


def _wrk_counts(output: str) -> dict[str, int]:
    counts = {"requests": int(re.search(r"(\d+) requests in", output)[1])}  # type: ignore[index]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    counts["socket_errors"] = sum(int(g) for g in errors.groups()) if errors else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    counts["non_2xx"] = int(non2xx[1]) if non2xx else 0
    return counts


@pytest.mark.parametrize("keepalive", [False, True], ids=["connection-close", "keep-alive"])
def test_reload_with_a_new_route_loses_no_request(tmp_path, echo_backend, nginx_runner, keepalive: bool) -> None:
    backend = echo_backend("main")
    port = free_port()
    old = _build(tmp_path, "old", port, backend.address, extra_route=False)
    new = _build(tmp_path, "new", port, backend.address, extra_route=True)
    gw = nginx_runner(old, port)
    url = f"http://127.0.0.1:{port}"
    assert request("GET", f"{url}/v1/items/7/tags", headers={"Host": HOST}).status == 404

    wrk = subprocess.Popen(
        [
            "wrk", "-t2", f"-c{CONNECTIONS}", f"-d{WRK_SECONDS}s", "--timeout", "5s", "-H", f"Host: {HOST}",
            *([] if keepalive else ["-H", "Connection: close"]), f"{url}/v1/items/7",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(WRK_SECONDS / 3)
        gw.reload(new)  # installs the new bundle, nginx -t, SIGHUP, waits for the old workers to exit
        reloaded_at = time.monotonic()
        out, _ = wrk.communicate(timeout=WRK_SECONDS + 30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    assert time.monotonic() - reloaded_at > 0.5 or wrk.returncode == 0, "wrk ended before traffic met the reload"
    assert wrk.returncode == 0, out
    counts = _wrk_counts(out)
    assert counts["requests"] > 100, out
    assert counts["socket_errors"] <= (CONNECTIONS * WORKERS if keepalive else 0), out
    assert counts["non_2xx"] == 0, out

    r = request("GET", f"{url}/v1/items/7/tags", headers={"Host": HOST})
    assert r.status == 200 and r.json()["headers"]["x-apigen-operation"] == "main.listItemTags"

    time.sleep(0.3)  # nginx logs after the response is sent
    statuses: dict[int, int] = {}
    for line in gw.access_log_lines():
        entry = json.loads(line)
        statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
    # The single 404 is the probe before the reload. 499 (client closed) is wrk stopping at the end of
    # its run with one request in flight per connection, not a loss (those show as socket errors).
    assert set(statuses) <= {200, 404, 499}, statuses
    assert statuses[404] == 1
    assert statuses.get(499, 0) <= CONNECTIONS, statuses
    assert statuses[200] >= counts["requests"], (statuses, counts)
