"""hide_credentials: the credential the gateway checked does not reach the upstream, live."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import jwt
import pytest

from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, policy_for

pytestmark = [pytest.mark.live, requires_nginx]

SECRET = "0123456789abcdef0123456789abcdef-hide"


def test_hidden_credentials_stay_at_the_gateway(tmp_path: Path, echo_backend, nginx_runner) -> None:
    src = tmp_path / "bundle-src"
    src.mkdir()
    (src / "keys.txt").write_text("batch: k-batch-1234567890\n")
    sha = base64.b64encode(hashlib.sha1(b"s3cret").digest()).decode()
    (src / "htpasswd").write_text(f"bob:{{SHA}}{sha}\n")
    (src / "hs.key").write_text(SECRET)
    backend = echo_backend("pets")
    port = free_port()
    policies = {
        "hidden-key": {"kind": "api_key", "keys_file": "keys.txt", "hide_credentials": True},
        "seen-key": {"kind": "api_key", "keys_file": "keys.txt"},
        "basic": {"kind": "basic_auth", "htpasswd": "htpasswd", "hide_credentials": True},
        "bearer": {"kind": "jwt", "keys": [{"secret": "hs.key", "alg": "HS256"}], "hide_credentials": True},
    }
    ops = {"listPets": "hidden-key", "createPet": "basic", "showPet": "bearer", "ownerPet": "seen-key"}
    api = {"operations": {op: {"use": [name]} for op, name in ops.items()}}
    nginx = nginx_runner(build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=policies, api=api)), port)

    def seen(method: str, path: str, **headers: str) -> dict[str, str]:
        r = request(method, f"{nginx.url}{path}", headers=headers)
        assert r.status == 200, (path, r.status, r.body)
        return r.json()["headers"]

    key = {"X-API-Key": "k-batch-1234567890"}
    got = seen("GET", "/v1/pets", **key)
    assert "x-api-key" not in got and got["x-client-name"] == "batch"
    assert seen("GET", "/v1/owners/1/pets/2", **key)["x-api-key"] == key["X-API-Key"]  # not asked to hide
    basic = "Basic " + base64.b64encode(b"bob:s3cret").decode()
    assert "authorization" not in seen("POST", "/v1/pets", Authorization=basic)
    token = jwt.encode({"sub": "u1", "exp": int(time.time()) + 300}, SECRET, "HS256")
    assert "authorization" not in seen("GET", "/v1/pets/7", Authorization=f"Bearer {token}")
    # The credential is still checked: without it, 401.
    assert request("GET", f"{nginx.url}/v1/pets/7").status == 401
    assert request("POST", f"{nginx.url}/v1/pets", headers={"Authorization": "Basic " + base64.b64encode(b"bob:x").decode()}).status == 401
    # An operation without those policies passes the client's Authorization on.
    assert seen("DELETE", "/v1/pets/7", Authorization="Bearer upstream-token")["authorization"] == "Bearer upstream-token"
