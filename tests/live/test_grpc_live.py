"""gRPC through the gateway: HTTP/2 with prior knowledge on a cleartext listener, grpc_pass to a
real grpcio server, gateway errors as gRPC status codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent import futures

import grpc  # a test dependency (pyproject [test]): a real gRPC server and client
import pytest

from tests.support.compose import build, openapi
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

SPEC = openapi({"/echo.Echo/Say": {"post": "Say"}, "/echo.Echo/Slow": {"post": "Slow"}})


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "apigen", *args], capture_output=True, text=True, timeout=60, check=False)


def _say(request: bytes, context) -> bytes:
    meta = dict(context.invocation_metadata())
    return b"said:" + request + b" rid=" + meta.get("x-request-id", "").encode()


def _slow(request: bytes, context) -> bytes:
    time.sleep(2)
    return request


@pytest.fixture
def grpc_backend():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    # Raw bytes in and out: no generated protobuf code needed.
    methods = {"Say": grpc.unary_unary_rpc_method_handler(_say), "Slow": grpc.unary_unary_rpc_method_handler(_slow)}
    handler = grpc.method_handlers_generic_handler("echo.Echo", methods)
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(0)


def test_grpc_call_and_gateway_errors(tmp_path, nginx_runner, grpc_backend) -> None:
    port, h2c_port = free_port(), free_port()
    policy = {
        "gateway": {"listen": f"127.0.0.1:{port}", "http2": {"cleartext_listen": f"127.0.0.1:{h2c_port}"}},
        "upstreams": {
            "echo": {"servers": [{"address": f"127.0.0.1:{grpc_backend}"}], "protocol": "grpc"},
            "gone": {"servers": [{"address": f"127.0.0.1:{free_port()}"}], "protocol": "grpc"},
        },
        "apis": [
            {
                "name": "echo",
                "spec": "echo.json",
                "upstream": "echo",
                "operations": {"Slow": {"timeouts": {"read": "500ms"}}},
            }
        ],
    }
    bundle = build(tmp_path, policy, {"echo.json": SPEC})
    conf = (bundle / "api_gateway.conf").read_text()
    assert f"listen 127.0.0.1:{h2c_port} http2;" in conf  # nginx 1.22: the listen parameter
    nginx = nginx_runner(bundle, h2c_port)

    with grpc.insecure_channel(f"127.0.0.1:{h2c_port}") as channel:
        say = channel.unary_unary("/echo.Echo/Say")
        assert say(b"hi", metadata=[("x-request-id", "grpc-1")], timeout=5) == b"said:hi rid=grpc-1"
        # The gateway's upstream timeout (504) becomes DEADLINE_EXCEEDED, not a JSON body.
        with pytest.raises(grpc.RpcError) as slow:
            channel.unary_unary("/echo.Echo/Slow")(b"x", timeout=5)
        assert (slow.value.code(), slow.value.details()) == (grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")

    # Same API, backend down: the gateway's 502 becomes gRPC UNAVAILABLE with its own message,
    # also under an errors policy that intercepts (its JSON pages came first: HTTP 502 with a
    # JSON body; found by a hunt). It is listed as inactive there.
    policy["apis"][0]["upstream"] = "gone"
    policy["policies"] = {"mask": {"kind": "errors", "intercept": [502, 503]}}
    policy["apis"][0]["use"] = ["mask"]
    nginx.reload(build(tmp_path / "2", policy, {"echo.json": SPEC}))
    with grpc.insecure_channel(f"127.0.0.1:{h2c_port}") as channel:
        with pytest.raises(grpc.RpcError) as err:
            channel.unary_unary("/echo.Echo/Say")(b"hi", timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert err.value.details() == "unavailable"
    policy_file = next((tmp_path / "2" / "in").glob("policy.*"))
    explained = run_cli("explain", "-p", str(policy_file), "POST", "/echo.Echo/Say", "--format", "json")
    assert [p["name"] for p in json.loads(explained.stdout)["inactive_policies"]] == ["mask"]


def test_cleartext_http2_listener_refuses_unknown_hosts(tmp_path, nginx_runner, grpc_backend) -> None:
    """Found by a hunt: the unknown-host server (444) did not listen on `http2.cleartext_listen`,
    so any :authority was served there."""
    port, h2c_port = free_port(), free_port()
    policy = {
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "server_name": "api.example.com",
            "http2": {"cleartext_listen": f"127.0.0.1:{h2c_port}"},
        },
        "upstreams": {"echo": {"servers": [{"address": f"127.0.0.1:{grpc_backend}"}], "protocol": "grpc"}},
        "apis": [{"name": "echo", "spec": "echo.json", "upstream": "echo"}],
    }
    nginx_runner(build(tmp_path, policy, {"echo.json": SPEC}), h2c_port)
    for authority, served in (("api.example.com", True), ("evil.test", False)):
        with grpc.insecure_channel(f"127.0.0.1:{h2c_port}", options=[("grpc.default_authority", authority)]) as channel:
            say = channel.unary_unary("/echo.Echo/Say")
            if served:
                assert say(b"hi", timeout=5).startswith(b"said:hi")
            else:
                with pytest.raises(grpc.RpcError) as err:
                    say(b"hi", timeout=5)
                assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL), err.value


def _named_server(name: str):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    say = grpc.unary_unary_rpc_method_handler(lambda request, context: name.encode())
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", {"Say": say}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_split_picks_the_grpc_variant(tmp_path, nginx_runner) -> None:
    """Found by a hunt: gRPC operations always did `grpc_pass grpc://<the operation's upstream>`,
    so a split (and its overrides) on them never sent a call to another variant, while the access
    log's $apigen_variant named one."""
    (blue, blue_port), (green, green_port) = _named_server("blue"), _named_server("green")
    try:
        port, h2c_port = free_port(), free_port()
        policy = {
            "gateway": {"listen": f"127.0.0.1:{port}", "http2": {"cleartext_listen": f"127.0.0.1:{h2c_port}"}},
            "upstreams": {
                "blue": {"servers": [{"address": f"127.0.0.1:{blue_port}"}], "protocol": "grpc"},
                "green": {"servers": [{"address": f"127.0.0.1:{green_port}"}], "protocol": "grpc"},
            },
            "policies": {
                "bg": {
                    "kind": "split",
                    "weights": {"blue": 50, "green": 50},
                    "overrides": [{"header": "X-Green", "value": "yes", "upstream": "green"}],
                }
            },
            "apis": [{"name": "echo", "spec": "echo.json", "upstream": "blue", "use": ["bg"]}],
        }
        nginx_runner(build(tmp_path, policy, {"echo.json": SPEC}), h2c_port)
        with grpc.insecure_channel(f"127.0.0.1:{h2c_port}") as channel:
            say = channel.unary_unary("/echo.Echo/Say")
            assert {say(b"x", timeout=5) for _ in range(40)} == {b"blue", b"green"}
            assert all(say(b"x", metadata=[("x-green", "yes")], timeout=5) == b"green" for _ in range(5))
    finally:
        blue.stop(0)
        green.stop(0)
