"""The multi-api golden case on a real nginx: two APIs, three upstreams, strip_base_path, tag- and
operation-level upstream overrides, headers policies per level, and JSON bodies for the errors
nginx itself produces."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from tests.golden.cases import GOLDEN_DIR
from tests.support.backend import EchoBackend
from tests.support.http import Response, request, send_raw
from tests.support.nginx import NginxInstance, requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]


@dataclass
class Env:
    url: str
    port: int
    backends: dict[str, EchoBackend]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("multi")
    case = tmp / "case"
    shutil.copytree(GOLDEN_DIR / "multi-api", case, ignore=shutil.ignore_patterns("expected"))
    backends = {name: EchoBackend(name).start() for name in ("users", "orders", "reports")}
    nginx = None
    try:
        port = free_port()
        text = (case / "policy.yaml").read_text()
        # Same policy, local addresses: every users server is the users echo (the backup too).
        for old, name in (("9301", "users"), ("9302", "users"), ("9303", "users"), ("9401", "orders"), ("9501", "reports")):
            text = text.replace(f"127.0.0.1:{old}", backends[name].address)
        text = text.replace("  listen: 8080\n", f"  listen: 127.0.0.1:{port}\n")
        (case / "policy.yaml").write_text(text)
        compiled = compile_policy(case / "policy.yaml")
        assert compiled.bundle is not None
        write_atomic(compiled.bundle, tmp / "bundle")
        nginx = NginxInstance(tmp / "bundle", port).start()
        yield Env(nginx.url, port, backends)
    finally:
        if nginx is not None:
            nginx.cleanup()
        for b in backends.values():
            b.stop()


def get(env: Env, method: str, path: str, **kw) -> Response:
    return request(method, env.url + path, **kw)


def test_base_path_from_server_variables_and_original_uri(env: Env) -> None:
    r = get(env, "GET", "/users/v1/users/me?expand=1")
    echo = r.json()
    assert (r.status, echo["backend"], echo["uri"]) == (200, "users", "/users/v1/users/me?expand=1")
    assert echo["headers"]["x-apigen-operation"] == "users.getMe"
    assert echo["headers"]["x-gateway"] == "apigen"  # gateway-level policy
    assert r.headers["Cache-Control"] == "private, max-age=60"  # tag `read`

    r = get(env, "GET", "/users/v1/users/42/avatar.png")
    assert r.json()["headers"]["x-apigen-operation"] == "users.getAvatar"


def test_tag_policy_sets_and_removes_request_headers(env: Env) -> None:
    r = get(env, "DELETE", "/users/v1/users/42", headers={"Cookie": "session=1"})
    echo = r.json()
    assert echo["headers"]["x-apigen-operation"] == "users.deleteUser"
    assert echo["headers"]["x-admin"] == "yes"
    assert "cookie" not in echo["headers"]
    assert "Cache-Control" not in r.headers


def test_strip_base_path_and_upstream_overrides(env: Env) -> None:
    cases = [
        ("GET", "/shop/orders-api/orders?page=2", "orders", "/orders?page=2", "orders.listOrders"),
        ("PATCH", "/shop/orders-api/orders/7", "orders", "/orders/7", "orders.updateOrder"),
        ("GET", "/shop/orders-api/orders/7.json", "users", "/orders/7.json", "orders.getOrderJson"),
        ("GET", "/shop/orders-api/reports/sales.csv", "reports", "/reports/sales.csv", "orders.getReport"),
        ("GET", "/shop/orders-api/reports/daily:latest", "reports", "/reports/daily:latest", "orders.getLatestDaily"),
    ]
    for method, path, backend, uri, op in cases:
        echo = get(env, method, path).json()
        assert (echo["backend"], echo["uri"], echo["headers"]["x-apigen-operation"]) == (backend, uri, op), path
        assert "x-gateway" not in echo["headers"]  # the orders API skips the gateway's policy


def test_unknown_paths_and_methods_per_api(env: Env) -> None:
    for path in ("/shop/orders-api/nothing", "/shop/orders-api/orders/7/x", "/users/v1/other", "/elsewhere"):
        r = get(env, "GET", path)
        assert (r.status, r.headers["Content-Type"], r.json()["status"]) == (404, "application/json", 404), path
    r = get(env, "PUT", "/shop/orders-api/orders/7.json")
    assert (r.status, r.headers["Allow"]) == (405, "GET, HEAD")


def _json_error(r: Response, status: int) -> None:
    assert r.status == status
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["status"] == status and body["request_id"] == r.headers["X-Request-ID"]


def test_errors_nginx_produces_are_json(env: Env) -> None:
    # 413: the policy's client_max_body_size is 2m.
    _json_error(get(env, "POST", "/users/v1/users", body=b"x" * (3 * 1024 * 1024)), 413)
    # 414: a request line longer than nginx's large header buffers.
    _json_error(get(env, "GET", "/users/v1/users/" + "a" * 9000), 414)
    # 400: malformed requests, in the headers and in the request line itself (no URI yet).
    for raw_request in (
        b"GET /users/v1/users HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET users HTTP/1.1\r\nHost: a\r\n\r\n",
    ):
        head, _, body = send_raw(env.port, raw_request).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400") and b"Content-Type: application/json" in head, head
        assert json.loads(body)["status"] == 400
    # 502: the upstream is down.
    env.backends["reports"].kill()
    try:
        _json_error(get(env, "GET", "/shop/orders-api/reports/a.csv"), 502)
    finally:
        env.backends["reports"].start()
