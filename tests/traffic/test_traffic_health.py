"""health (NGINX Plus active checks: parsed and table-checked) and passive checks / retries on OSS
(live: a backend killed under traffic, every backend down, a hanging backend)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apigen.verify import iter_directives, parse_bundle
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, compile_errors, policy_for

HEALTH = {
    "kind": "health",
    "interval": "5s",
    "fails": 3,
    "passes": 2,
    "uri": "/healthz",
    "mandatory": True,
    "match": {"status": "200-399", "headers": {"Content-Type": "^application/json"}, "body": '"ok": *true'},
}


def test_active_health_checks_on_plus(tmp_path: Path) -> None:
    policy = policy_for(
        8080,
        {"main": ["10.0.0.1:80", "10.0.0.2:80"], "other": ["10.0.0.3:80"]},
        policies={"hc": HEALTH},
        api={"use": ["hc"]},
        target={"flavor": "plus", "version": "R33"},
    )
    bundle = build(tmp_path, policy)  # parse + Plus directive/context table (no nginx -t for Plus)
    refs = list(iter_directives(parse_bundle(bundle).payload))
    checks = [r for r in refs if r.directive == "health_check"]
    # One probing location per upstream, however many operations use it.
    assert [(r.context[-1], r.args) for r in checks] == [
        (
            "location @apigen_hc_hc_main",
            ("interval=5s", "fails=3", "passes=2", "uri=/healthz", "match=apigen_hc_hc", "mandatory"),
        )
    ]
    zones = [(r.context[-1], r.args) for r in refs if r.directive == "zone"]
    assert zones == [("upstream main", ("main", "256k"))]
    text = (bundle / "api_gateway.conf").read_text()
    assert (
        'match apigen_hc_hc {\n    status 200-399;\n    header "Content-Type" ~ "^application/json";\n'
        '    body ~ "\\"ok\\": *true";\n}'
    ) in text


def test_health_probes_speak_the_upstream_protocol(tmp_path: Path) -> None:
    """Found by a hunt: the probing location always had `proxy_pass http://`, so https and gRPC
    upstreams were probed in plain HTTP and every server was marked down."""
    policy = policy_for(
        8080,
        {"main": ["10.0.0.1:443", "10.0.0.2:443"]},
        policies={"hc": HEALTH},
        api={"use": ["hc"]},
        target={"flavor": "plus", "version": "R33"},
        upstream_main={"protocol": "https", "tls": {"verify": False, "server_name": "pets.internal"}},
    )
    refs = list(iter_directives(parse_bundle(build(tmp_path, policy)).payload))
    probe = {r.directive: r.args for r in refs if r.context[-1:] == ("location @apigen_hc_hc_main",)}
    assert probe["proxy_pass"] == ("https://main",)
    assert probe["proxy_ssl_server_name"] == ("on",) and probe["proxy_ssl_name"] == ("pets.internal",)
    assert "match=apigen_hc_hc" in probe["health_check"]


def test_grpc_health_probes(tmp_path: Path) -> None:
    from tests.support.compose import build as compose_build

    spec = {
        "openapi": "3.0.3",
        "info": {"title": "g", "version": "1"},
        "paths": {"/pkg.Svc/Get": {"post": {"operationId": "get", "responses": {"200": {"description": "ok"}}}}},
    }
    policy = {
        "target": {"flavor": "plus", "version": "R33"},
        "gateway": {"listen": 8080, "http2": {"cleartext_listen": 8081}},
        "upstreams": {"g": {"servers": [{"address": "10.0.0.1:50051"}, {"address": "10.0.0.2:50051"}], "protocol": "grpc"}},
        "policies": {"hc": HEALTH},
        "apis": [{"name": "g", "spec": "g.json", "upstream": "g", "use": ["hc"]}],
    }
    bundle = compose_build(tmp_path, policy, {"g.json": spec}, check=False)
    refs = list(iter_directives(parse_bundle(bundle).payload))
    probe = {r.directive: r.args for r in refs if r.context[-1:] == ("location @apigen_hc_hc_g",)}
    assert probe["grpc_pass"] == ("grpc://g",) and "proxy_pass" not in probe
    assert probe["health_check"] == ("interval=5s", "fails=3", "passes=2", "mandatory", "type=grpc")


def test_active_health_checks_refused_on_oss(tmp_path: Path) -> None:
    errors = compile_errors(
        tmp_path, policy_for(8080, {"main": ["10.0.0.1:80"]}, policies={"hc": HEALTH}, api={"use": ["hc"]})
    )
    assert len(errors) == 1
    assert "policy.json:" in errors[0]
    assert "active health checks (health_check needs NGINX Plus; the target is nginx 1.22)" in errors[0]
    assert "passive_health" in errors[0]


CIRCUIT = {
    "passive_health": {"max_fails": 1, "fail_timeout": "30s"},
    "timeouts": {"connect": "1s", "read": "1s"},
    "retries": {"on": ["error", "timeout", "http_502"], "tries": 2, "timeout": "3s"},
}


def _gateway_on_two_backends(tmp_path: Path, echo_backend, nginx_runner):
    a, b = echo_backend("a"), echo_backend("b")
    port = free_port()
    # Four workers: the failure count of a server must be shared by all of them.
    policy = policy_for(port, {"main": [a.address, b.address]}, upstream_main=CIRCUIT, gateway={"worker_processes": 4})
    return a, b, nginx_runner(build(tmp_path, policy), port)


@pytest.mark.live
@requires_nginx
def test_backend_killed_under_traffic(tmp_path: Path, echo_backend, nginx_runner) -> None:
    a, b, nginx = _gateway_on_two_backends(tmp_path, echo_backend, nginx_runner)

    seen = [request("GET", f"{nginx.url}/v1/pets").json()["backend"] for _ in range(10)]
    assert set(seen) == {"a", "b"}
    a.kill()
    for _ in range(30):
        r = request("GET", f"{nginx.url}/v1/pets")
        assert (r.status, r.json()["backend"]) == (200, "b")
    # max_fails=1: after its first failure `a` is out for fail_timeout in every worker (the group
    # has a shared-memory zone; without one each worker counted on its own, found live), so the
    # 30 requests, spread over four workers, cost one refused connection.
    assert nginx.error_log().count("connect() failed") == 1

    # Every server down: a JSON 502 at once, not a hang.
    b.kill()
    r = request("GET", f"{nginx.url}/v1/pets", timeout=5)
    assert (r.status, r.headers["Content-Type"], r.json()["status"]) == (502, "application/json", 502)


@pytest.mark.live
@requires_nginx
def test_hanging_backends_give_json_504_within_timeouts(tmp_path: Path, echo_backend, nginx_runner) -> None:
    _, _, nginx = _gateway_on_two_backends(tmp_path, echo_backend, nginx_runner)
    # read timeout 1s, tries 2, next_upstream timeout 3s: the gateway gives up well before the
    # client's 6s timeout (a hang would raise TimeoutError), and says so in JSON.
    r = request("GET", f"{nginx.url}/v1/pets?__sleep=10", timeout=6)
    assert (r.status, r.json()["status"]) == (504, 504)
    assert nginx.error_log().count("upstream timed out") == 2  # exactly `tries` attempts


@pytest.mark.live
@requires_nginx
def test_hash_balancing_on_uri_sees_the_client_path(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """Operation locations are named locations, which keep the client's URI: `hash $uri` spreads
    an operation's paths over the servers and keeps each path on one (with URI locations for the
    operations, $uri was the operation's internal location and every request went to one server)."""
    a, b = echo_backend("a"), echo_backend("b")
    port = free_port()
    policy = policy_for(port, {"main": [a.address, b.address]}, upstream_main={"balance": "hash $uri consistent"})
    nginx = nginx_runner(build(tmp_path, policy), port)
    first = {i: request("GET", f"{nginx.url}/v1/pets/{i}").json()["backend"] for i in range(40)}
    assert set(first.values()) == {"a", "b"}
    assert all(request("GET", f"{nginx.url}/v1/pets/{i}").json()["backend"] == first[i] for i in range(40))
