"""The JWT verification cache on a `unix:` socket, rebuilt in place under a running nginx.

nginx makes the socket file when it binds the verifier's listener. With the socket in the bundle
directory (`unix:<bundle>/auth.sock`), a rebuild swapped in a new directory and the file went with
the previous bundle, while nginx kept listening on the unlinked socket (a reload inherits a
listener whose address did not change): every cached JWT check answered 500 (`connect() ... No
such file or directory`) until nginx was restarted (found by a hunt). `apigen build` now refuses
such a socket; under `temp/` (which rebuilds keep) it outlives rebuilds and reloads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apigen import cli
from tests.support.http import request
from tests.support.nginx import nginx_binary, requires_nginx
from tests.support.ports import free_port
from tests.support.rebuild import wait_until_answering

HOST = "api.example.com"
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "cached", "version": "1"},
    "paths": {"/items": {"get": {"operationId": "listItems", "responses": {"200": {"description": "ok"}}}}},
}


def _inputs(ws: Path, port: int, backend: str, socket: str) -> Path:
    ws.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (ws / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (ws / "public.pem").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (ws / "spec.json").write_text(json.dumps(SPEC))
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "server_name": HOST},
        "upstreams": {"main": {"servers": [{"address": backend}]}},
        "policies": {"jwt": {"kind": "jwt", "keys": [{"pem": "public.pem", "alg": "RS256"}], "cache": {"listen": f"unix:{socket}", "ttl": 30}}},
        "apis": [{"name": "main", "spec": "spec.json", "upstream": "main", "use": ["jwt"]}],
    }
    (ws / "policy.json").write_text(json.dumps(policy))
    return ws / "policy.json"


def _build(policy: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["build", str(policy), "-o", str(out)])
    return result.exit_code, result.output


def test_a_socket_in_the_bundle_outside_the_kept_directories_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    for socket, refused in (
        (out / "auth.sock", True),
        (out / "njs" / "auth.sock", True),
        (out / "temp" / "auth.sock", False),
        (out / "logs" / "auth.sock", False),
        (tmp_path / "auth.sock", False),
    ):
        code, output = _build(_inputs(tmp_path / "ws", 8080, "127.0.0.1:9", str(socket)), out)
        if refused:
            assert code == 1 and "inside the output directory" in output and not out.exists(), output
        else:
            assert code == 0, output
            shutil.rmtree(out)
    # The output directory named through a symbolic link is the same directory.
    (tmp_path / "link").symlink_to(tmp_path)
    code, output = _build(_inputs(tmp_path / "ws", 8080, "127.0.0.1:9", str(out / "auth.sock")), tmp_path / "link" / "bundle")
    assert code == 1 and "inside the output directory" in output, output


@pytest.mark.live
@requires_nginx
def test_a_socket_under_temp_outlives_a_rebuild_and_a_reload(echo_backend) -> None:
    backend = echo_backend("main")
    port = free_port()
    # Not under pytest's tmp_path (mode 0700 parents): nginx run as root has its workers run as
    # `nobody`, which must reach temp/ (the cache and the socket).
    root = Path(tempfile.mkdtemp(prefix="apigen-socket-"))
    root.chmod(0o755)
    out = root / "bundle"
    policy = _inputs(root / "ws", port, backend.address, str(out / "temp" / "auth.sock"))
    key = (root / "ws" / "key.pem").read_text()
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 300}, key, "RS256")
    assert _build(policy, out)[0] == 0
    nginx = [nginx_binary(), "-p", f"{out}/", "-c", "nginx.conf"]
    master = subprocess.Popen([*nginx, "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)

    def status() -> int:
        return request("GET", f"http://127.0.0.1:{port}/items", headers={"Host": HOST, "Authorization": f"Bearer {token}"}).status

    try:
        wait_until_answering(status, master)
        assert _build(policy, out)[0] == 0
        assert status() == 200  # the running configuration, before the reload
        reload = subprocess.run([*nginx, "-s", "reload"], capture_output=True, text=True, timeout=10)
        assert reload.returncode == 0, reload.stderr
        time.sleep(0.5)
        assert [status() for _ in range(5)] == [200] * 5
    finally:
        if master.poll() is None:
            master.terminate()
            master.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
