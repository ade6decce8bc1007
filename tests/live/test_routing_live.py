"""Every operation of real specs, through a real nginx running the generated gateway, reaches an
echo backend as that operation; 405/404/request-id/failover behave as the issue demands.

One nginx and two echo backends per spec (module scope); requests go over keep-alive.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from apigen.bundle import write_atomic
from apigen.model.types import Operation, Parameter
from apigen.pipeline import Compiled, compile_policy
from apigen.plan.paths import PathTemplate, join_base
from apigen.plan.routing import Route
from apigen.verify import run_nginx_t
from tests.support.backend import EchoBackend
from tests.support.corpus import REPO_ROOT, corpus_file
from tests.support.nginx import NginxInstance, nginx_binary, requires_nginx
from tests.support.ports import free_port

pytestmark = [pytest.mark.live, requires_nginx]

OP_HEADER = "X-Apigen-Operation"
SPECS = ["petstore", "twilio", "box", "discord"]
CORPUS = {"twilio": "twilio_api_v2010.yaml", "box": "box-openapi.json", "discord": "discord-openapi-3.1.json"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


class Client:
    """Keep-alive HTTP/1.1 client; reconnects when nginx closes the connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                self.conn.request(method, target, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, resp.headers, data
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Gateway:
    name: str
    compiled: Compiled
    nginx: NginxInstance
    primary: EchoBackend
    backup: EchoBackend
    client: Client

    @property
    def routes(self) -> tuple[Route, ...]:
        return self.compiled.plan.routes.routes

    def api_base(self, op: Operation) -> str:
        return self.compiled.config.api(op.api).base_path


def _policy(name: str, tmp: Path, primary: EchoBackend, backup: EchoBackend, port: int) -> Path:
    yaml = YAML()
    if name == "petstore":  # the example itself, pointed at local backends
        example = REPO_ROOT / "examples" / "petstore"
        data: Any = yaml.load((example / "policy.yaml").read_text())
        data["apis"][0]["spec"] = str(example / "openapi.yaml")
        data["upstreams"]["pets"]["servers"] = [{"address": primary.address}, {"address": backup.address, "backup": True}]
    else:
        data = {
            "upstreams": {
                "main": {"servers": [{"address": primary.address}, {"address": backup.address, "backup": True}]}
            },
            "apis": [{"name": name, "spec": str(corpus_file(CORPUS[name])), "upstream": "main"}],
        }
    data["gateway"] = {
        **(data.get("gateway") or {}),
        "listen": f"127.0.0.1:{port}",
        "worker_processes": 1,
        "operation_header": OP_HEADER,
    }
    path = tmp / "policy.yaml"
    path.write_text(json.dumps(data, indent=2))  # JSON is YAML, and keeps keys like `on` intact
    return path


@pytest.fixture(scope="module", params=SPECS)
def gw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    name: str = request.param
    tmp = tmp_path_factory.mktemp(name)
    primary, backup = EchoBackend("primary").start(), EchoBackend("backup").start()
    nginx = None
    try:
        port = free_port()
        compiled = compile_policy(_policy(name, tmp, primary, backup, port))
        assert compiled.bundle is not None
        write_atomic(compiled.bundle, tmp / "bundle")
        check = run_nginx_t(tmp / "bundle", nginx=nginx_binary() or "nginx")
        assert check.ok, check.output
        nginx = NginxInstance(tmp / "bundle", port).start()
        client = Client(port)
        yield Gateway(name, compiled, nginx, primary, backup, client)
        client.close()
    finally:
        if nginx is not None:
            log = nginx.error_log()
            if "[alert]" in log or "[emerg]" in log:
                print(log[-4000:])
            nginx.cleanup()
        primary.stop()
        backup.stop()


def sample_value(param: Parameter | None) -> str:
    """A value that fits the parameter: its enum's first value, else digits (ids, integers and
    Discord's snowflake patterns all accept them)."""
    schema = dict(param.schema) if param else {}
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and isinstance(enum[0], (str, int)) and re.fullmatch(r"[A-Za-z0-9._-]+", str(enum[0])):
        return str(enum[0])
    return "123"


def sample_url(gw: Gateway, op: Operation) -> str:
    params = {p.name: p for p in op.parameters if p.location == "path"}
    path = re.sub(r"\{([^{}/]*)\}", lambda m: sample_value(params.get(m.group(1))), op.route_path)
    return join_base(gw.api_base(op), path)


def expected_operation(gw: Gateway, op: Operation) -> Operation:
    """The operation a request for ``op`` reaches: itself, or for a `#fragment` alias (Box) the
    operation that owns the same route and method (the path without the fragment)."""
    shape = PathTemplate(join_base(gw.api_base(op), op.route_path)).shape
    route = next(r for r in gw.routes if r.template.shape == shape)
    target = dict(route.operations)[op.method]
    if target is not op:
        assert "#" in op.path and target.path.split("#")[0] == op.route_path, (op.path, target.path)
    return target


def all_operations(gw: Gateway) -> list[Operation]:
    return [op for api in gw.compiled.config.apis for op in api.operations]


def test_every_operation_reaches_the_backend_as_itself(gw: Gateway) -> None:
    ops = all_operations(gw)
    assert len(ops) >= {"petstore": 8, "twilio": 197, "box": 296, "discord": 242}[gw.name]
    failures = []
    for op in ops:
        if op.method == "TRACE":
            continue  # nginx itself refuses TRACE; no spec here declares it
        url = sample_url(gw, op) + "?apigen_probe=1&x=%20y"
        body = b'{"probe": true}' if op.method in BODY_METHODS else None
        headers = {"Content-Type": "application/json"} if body else {}
        status, _, data = gw.client.send(op.method, url, headers, body)
        want = expected_operation(gw, op)
        try:
            echo = json.loads(data)
            got = (status, echo["method"], echo["uri"], echo["headers"].get(OP_HEADER.lower()), echo["backend"])
        except (ValueError, KeyError):
            got = (status, data[:200])
        expected = (200, op.method, url, f"{want.api}.{want.operation_id}", "primary")
        if got != expected:
            failures.append(f"{op.method} {op.path} -> {got}, expected {expected}")
        elif op.method in BODY_METHODS and echo["body"] != '{"probe": true}':
            failures.append(f"{op.method} {op.path}: body not forwarded")
    assert not failures, f"{len(failures)} of {len(ops)} operations misrouted:\n" + "\n".join(failures[:40])


def test_head_is_served_where_get_is_declared(gw: Gateway) -> None:
    gets = [op for op in all_operations(gw) if op.method == "GET" and "#" not in op.path][:25]
    assert gets
    for op in gets:
        status, headers, data = gw.client.send("HEAD", sample_url(gw, op))
        assert (status, data) == (200, b""), op.path
        assert REQUEST_ID.match(headers["X-Request-ID"])


def test_undeclared_methods_get_405_with_allow(gw: Gateway) -> None:
    probes = ("DELETE", "PATCH", "PUT", "POST", "GET", "OPTIONS")
    checked = 0
    for route in gw.routes:
        declared = {m for m, _ in route.operations}
        method = next((m for m in probes if m not in declared), None)
        if method is None:
            continue
        op = route.operations[0][1]
        status, headers, data = gw.client.send(method, sample_url(gw, op))
        assert status == 405, (method, route.route_id, data[:200])
        assert headers["Allow"] == route.allow, route.route_id
        assert headers["Content-Type"] == "application/json"
        body = json.loads(data)
        assert body["status"] == 405 and body["request_id"] == headers["X-Request-ID"]
        checked += 1
    assert checked >= len(gw.routes) // 2


def _unknown_paths(gw: Gateway) -> list[str]:
    base = gw.compiled.config.apis[0].base_path
    paths = [f"{base}/apigen-no-such-path", "/apigen-no-such-root/x", f"{base}/"]
    for route in gw.routes:  # under a templated route's prefix, with one segment too many
        if not route.is_exact:
            paths.append(route.template.sample("123") + "/extra/segments")
            break
    templated = [re.compile(r.template.regex()) for r in gw.routes if not r.is_exact]
    for route in gw.routes:  # a concrete path with a trailing character that no template matches
        if route.is_exact and not any(rx.match(route.template.text + "x") for rx in templated):
            paths.append(route.template.text + "x")
            break
    assert all(not any(rx.match(p) for rx in templated) for p in paths), paths
    return paths


def test_unknown_paths_get_json_404(gw: Gateway) -> None:
    for path in _unknown_paths(gw):
        status, headers, data = gw.client.send("GET", path)
        assert status == 404, (path, data[:200])
        assert headers["Content-Type"] == "application/json", path
        body = json.loads(data)
        assert body == {"status": 404, "error": "Not Found", "request_id": headers["X-Request-ID"]}
        assert REQUEST_ID.match(body["request_id"])


def test_request_id_forwarded_echoed_and_sanitised(gw: Gateway) -> None:
    op = next(o for o in all_operations(gw) if o.method == "GET")
    url = sample_url(gw, op)
    status, headers, data = gw.client.send("GET", url, {"X-Request-ID": "client-id.42:a_b"})
    assert status == 200
    assert headers["X-Request-ID"] == "client-id.42:a_b"
    echo = json.loads(data)
    assert echo["headers"]["x-request-id"] == "client-id.42:a_b"
    # Forwarding headers the issue requires.
    assert echo["headers"]["host"] == "127.0.0.1"
    assert echo["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert echo["headers"]["x-forwarded-proto"] == "http"

    for hostile in ('x"; rm -rf /', "a" * 200, "id with spaces", "<script>"):
        status, headers, data = gw.client.send("GET", url, {"X-Request-ID": hostile})
        assert status == 200
        sent = json.loads(data)["headers"]["x-request-id"]
        assert REQUEST_ID.match(sent) and headers["X-Request-ID"] == sent, hostile

    status, headers, data = gw.client.send("GET", url)
    assert REQUEST_ID.match(headers["X-Request-ID"])
    assert json.loads(data)["headers"]["x-request-id"] == headers["X-Request-ID"]


def test_dead_primary_fails_over_to_backup(gw: Gateway) -> None:
    op = next(o for o in all_operations(gw) if o.method == "GET")
    url = sample_url(gw, op)
    assert json.loads(gw.client.send("GET", url)[2])["backend"] == "primary"
    gw.primary.kill()
    try:
        for _ in range(5):
            status, _, data = gw.client.send("GET", url)
            assert status == 200
            assert json.loads(data)["backend"] == "backup"
    finally:
        gw.primary.start()
