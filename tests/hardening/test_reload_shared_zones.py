"""A rebuild that changes a shared-memory zone's settings, then `nginx -s reload`.

nginx keeps a zone of the same name and size across a reload, with its contents, and refuses the
whole new configuration when what the zone was made for changed: a limit's key (`limit_req "..."
uses the "k:${http_x_tenant}" key while previously it used the "$binary_remote_addr" key`), a
cache's path (`cache "..." uses the ".../cache_pet_cache" cache path while previously it used the
".../cache_pet-cache" cache path`), each an emerg in the error log. `nginx -t`, `apigen check` and
`nginx -s reload` itself all succeed, so the previous configuration kept running unnoticed (found
by a hunt). A limit zone's name now carries a digest of its key (the limit starts on a fresh
zone); a cache's path follows its zone's name, which policy names nginx cannot tell apart share.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import request
from tests.support.nginx import nginx_binary, requires_nginx
from tests.support.ports import free_port
from tests.support.rebuild import build_base, wait_until_answering

pytestmark = [pytest.mark.live, requires_nginx]
HOST = "api.example.com"

# (name, policy) before and after: a limit's new key, its first exemption, a concurrency limit's
# key, a cache policy renamed to a name nginx does not tell apart from the old one.
CHANGES: dict[str, tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "rate-key": (
        ("limit", {"kind": "rate_limit", "rate": "1000r/s"}),
        ("limit", {"kind": "rate_limit", "rate": "1000r/s", "key": "header:X-Tenant"}),
    ),
    "rate-first-exemption": (
        ("limit", {"kind": "rate_limit", "rate": "1000r/s"}),
        ("limit", {"kind": "rate_limit", "rate": "1000r/s", "exempt": {"ips": ["10.0.0.0/8"]}}),
    ),
    "conn-key": (
        ("limit", {"kind": "conn_limit", "max": 100}),
        ("limit", {"kind": "conn_limit", "max": 100, "key": "header:X-Tenant"}),
    ),
    "cache-renamed": (
        ("pet-cache", {"kind": "cache"}),
        ("pet_cache", {"kind": "cache"}),
    ),
}


def _build(tmp: Path, out: Path, port: int, backend: str, zone: tuple[str, dict[str, Any]], name: str, extra_route: bool) -> None:
    def attach(policy: dict[str, Any]) -> None:
        policy["policies"][zone[0]] = zone[1]
        policy["apis"][0]["use"].append(zone[0])

    build_base(tmp, out, port, backend, extra_route=extra_route, name=name, edit=attach)


def _status(url: str) -> int:
    return request("GET", url, headers={"Host": HOST, "X-Tenant": "acme"}).status


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_reload_after_a_zone_change_is_taken(tmp_path: Path, echo_backend, change: str) -> None:
    before, after = CHANGES[change]
    backend = echo_backend("main")
    port = free_port()
    # Not under pytest's tmp_path (mode 0700 parents): nginx run as root has its workers run as
    # `nobody`, which must reach temp/ in the prefix (the cache writes there).
    root = Path(tempfile.mkdtemp(prefix="apigen-reload-"))
    root.chmod(0o755)
    out = root / "bundle"
    _build(tmp_path, out, port, backend.address, before, "ws-old", extra_route=False)
    nginx = [nginx_binary(), "-p", f"{out}/", "-c", "nginx.conf"]
    master = subprocess.Popen([*nginx, "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1/items/7"
        wait_until_answering(lambda: _status(url), master)
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
        shutil.rmtree(root, ignore_errors=True)
