"""headers (set/append/remove, response set/append/hide, always) and body_limit: bundle + live."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, policy_for

POLICIES = {
    "hdrs": {
        "kind": "headers",
        "request": {
            "set": {"X-Gateway": "apigen $1"},
            "append": {"X-Forwarded-Tags": "gw"},
            "remove": ["X-Internal"],
        },
        "response": {
            "set": {"X-Frame-Options": "DENY"},
            "append": {"X-Extra": "gw"},
            "hide": ["X-Powered-By"],
        },
    },
    "errors-too": {"kind": "headers", "response": {"set": {"X-On-Errors": "yes"}}},
    "not-on-errors": {"kind": "headers", "response": {"set": {"X-Only-Success": "yes"}, "always": False}},
    "small": {"kind": "body_limit", "max": "1k"},
    "large": {"kind": "body_limit", "max": "64k", "timeout": "1s"},
}
API = {"use": ["hdrs", "small"], "operations": {"createPet": {"use": ["large", "errors-too", "not-on-errors"]}}}


@pytest.mark.live
@requires_nginx
def test_headers_and_body_limit(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    bundle = build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=POLICIES, api=API))
    ops = (bundle / "api_conf.d/pets.conf").read_text()
    assert 'proxy_set_header "X-Gateway" "apigen ${apigen_dollar}1";' in ops
    assert "client_max_body_size 1k;" in ops and "client_max_body_size 64k;" in ops
    nginx = nginx_runner(bundle, port)

    url = f"{nginx.url}/v1/pets?__header=X-Powered-By:php&__header=X-Frame-Options:ALLOW&__header=X-Extra:up"
    r = request("GET", url, headers={"X-Internal": "secret", "X-Forwarded-Tags": "client"})
    seen = r.json()["headers"]
    assert seen["x-gateway"] == "apigen $1"  # a literal dollar, not a variable
    assert seen["x-forwarded-tags"] == "client, gw"
    assert "x-internal" not in seen
    assert r.headers.get_all("X-Frame-Options") == ["DENY"]  # replaced, not duplicated
    assert sorted(r.headers.get_all("X-Extra")) == ["gw", "up"]
    assert "X-Powered-By" not in r.headers
    r = request("GET", f"{nginx.url}/v1/pets")
    assert r.json()["headers"]["x-forwarded-tags"] == "gw"

    # body_limit: 1k on the API, 64k on createPet (a more specific level replaces the kind).
    r = request("PUT", f"{nginx.url}/v1/pets/1", body="x" * 2000)
    assert r.status == 405  # no PUT in this spec: the method check comes first
    r = request("DELETE", f"{nginx.url}/v1/pets/1", body="x" * 2000)
    assert (r.status, r.json()["status"], r.headers["Content-Type"]) == (413, 413, "application/json")
    # The same body chunked (no Content-Length to compare up front): counted as it is read.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"DELETE /v1/pets/1 HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"7d0\r\n" + b"x" * 2000 + b"\r\n0\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 413 ")
    r = request("POST", f"{nginx.url}/v1/pets", body="x" * 2000)
    assert r.status == 200 and r.json()["body"] == "x" * 2000
    # Response headers with `always` survive an error answer; without it they do not.
    r = request("POST", f"{nginx.url}/v1/pets?__status=500")
    assert r.status == 500
    assert (r.headers["X-On-Errors"], r.headers.get("X-Only-Success")) == ("yes", None)
    r = request("POST", f"{nginx.url}/v1/pets")
    assert (r.headers["X-On-Errors"], r.headers["X-Only-Success"]) == ("yes", "yes")
    r = request("POST", f"{nginx.url}/v1/pets", body="x" * 70_000)
    assert r.status == 413
    # A client that stalls while sending the body is cut off after the body timeout (1s); nginx
    # closes the connection without an answer (it never sends its 408).
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v1/pets HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 100\r\n\r\nonly-part")
        # Closed by nginx (a TimeoutError here: nginx kept waiting); with reset_timedout_connection
        # on (the gateway's safe default) the close is a reset.
        try:
            assert sock.recv(1024) == b""
        except ConnectionResetError:
            pass


@pytest.mark.live
@requires_nginx
def test_a_body_limit_above_the_gateway_default_is_honoured(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """nginx checks Content-Length in the route location (which inherited the gateway's 1m)
    before the operation's: a 3m upload limit answered 413 to 1.5 MB sent with Content-Length
    and accepted it chunked (found live). The http level now allows the largest limit and every
    operation location states its own."""
    backend = echo_backend("pets")
    port = free_port()
    policies = {"uploads": {"kind": "body_limit", "max": "3m"}}
    api = {"operations": {"createPet": {"use": ["uploads"]}}}
    bundle = build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=policies, api=api))
    nginx = nginx_runner(bundle, port)
    body = "x" * 1_500_000
    r = request("POST", f"{nginx.url}/v1/pets", body=body, timeout=30)
    assert r.status == 200 and len(r.json()["body"]) == len(body)
    assert request("POST", f"{nginx.url}/v1/pets", body="x" * 3_500_000, timeout=30).status == 413
    # Operations without a limit of their own keep the gateway's 1m.
    r = request("DELETE", f"{nginx.url}/v1/pets/1", body=body, timeout=30)
    assert (r.status, r.headers["Content-Type"]) == (413, "application/json")


@pytest.mark.live
@requires_nginx
def test_a_more_specific_level_decides_a_header(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """Headers policies accumulate, but one header named at two levels was sent twice (found by a
    hunt: X-Frame-Options DENY and SAMEORIGIN): the most specific level decides it."""
    backend = echo_backend("pets")
    port = free_port()
    policies = {
        "gw": {
            "kind": "headers",
            "request": {"set": {"X-Tier": "gw", "X-Keep": "1", "X-Env": "prod"}, "remove": ["X-User"], "append": {"X-Trace": "g"}},
            "response": {"set": {"X-Frame-Options": "DENY", "X-Gw": "1", "X-Gw-Hidden": "1"}, "append": {"X-Gw-List": "1"}},
        },
        "op": {
            "kind": "headers",
            # A later append adds to what the gateway level decided (found by a review: the
            # removed X-User came back with the client's forged value).
            "request": {"remove": ["x-tier"], "append": {"X-User": "op", "X-Env": "op", "X-Trace": "o"}},
            # A more specific hide drops what a less specific level sets or appends (found by a hunt).
            "response": {"set": {"x-frame-options": "SAMEORIGIN"}, "hide": ["X-Gw-Hidden", "x-gw-list"]},
        },
    }
    policy = policy_for(port, {"main": [backend.address]}, policies=policies, api={"use": ["gw"], "operations": {"showPet": {"use": ["op"]}}})
    nginx = nginx_runner(build(tmp_path, policy), port)
    forged = {"X-User": "forged-admin", "X-Env": "client", "X-Trace": "c"}
    r = request("GET", f"{nginx.url}/v1/pets/1?__header=X-Frame-Options:ALLOW", headers=forged)
    assert r.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"] and r.headers["X-Gw"] == "1"
    assert "X-Gw-Hidden" not in r.headers and "X-Gw-List" not in r.headers
    seen = r.json()["headers"]
    assert "x-tier" not in seen and seen["x-keep"] == "1"
    assert (seen["x-user"], seen["x-env"], seen["x-trace"]) == ("op", "prod, op", "c, g, o")
    r = request("GET", f"{nginx.url}/v1/pets")
    assert r.headers.get_all("X-Frame-Options") == ["DENY"] and r.json()["headers"]["x-tier"] == "gw"
    assert (r.headers["X-Gw-Hidden"], r.headers["X-Gw-List"]) == ("1", "1")


@pytest.mark.live
@requires_nginx
def test_a_policy_decides_the_gateways_own_request_headers(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """A headers policy naming a header the gateway sends itself (Host, X-Forwarded-For,
    X-Request-ID, X-Real-IP) sent a second line next to the gateway's (found by a review: two Host
    headers upstream, and a `remove` that removed nothing): the policy's decision replaces it."""
    backend = echo_backend("pets")
    port = free_port()
    policies = {
        "vhost": {
            "kind": "headers",
            "request": {
                "set": {"Host": "internal.example", "x-request-id": "fixed-id", "X-Forwarded-For": "10.9.9.9"},
                "remove": ["X-Real-IP"],
            },
        }
    }
    policy = policy_for(port, {"main": [backend.address]}, policies=policies, api={"operations": {"showPet": {"use": ["vhost"]}}})
    nginx = nginx_runner(build(tmp_path, policy), port)
    seen = request("GET", f"{nginx.url}/v1/pets/1", headers={"X-Forwarded-For": "6.6.6.6"}).json()["headers"]
    # The echo backend joins repeated header lines with ", ": one line each.
    assert (seen["host"], seen["x-request-id"]) == ("internal.example", "fixed-id")
    assert seen["x-forwarded-for"] == "10.9.9.9"  # the policy's value alone, not the client's
    assert "x-real-ip" not in seen
    # Operations without the policy keep the gateway's own lines.
    seen = request("GET", f"{nginx.url}/v1/pets", headers={"X-Forwarded-For": "6.6.6.6"}).json()["headers"]
    assert seen["host"] != "internal.example" and seen["x-forwarded-for"] == "127.0.0.1" and seen["x-real-ip"] == "127.0.0.1"


@pytest.mark.live
@requires_nginx
def test_a_content_type_set_is_not_repeated_on_the_gateways_json_errors(
    tmp_path: Path, echo_backend, nginx_runner
) -> None:
    """`response.set: {Content-Type: ...}` (always) made every JSON error answer of the operation
    carry two Content-Type lines, nginx's `application/json` and the policy's (found by a hunt)."""
    backend = echo_backend("pets")
    port = free_port()
    policies = {
        "ctype": {"kind": "headers", "response": {"set": {"Content-Type": "application/json; charset=utf-8", "X-Mark": "1"}}},
        "slow": {"kind": "rate_limit", "rate": "1r/m"},
        "mask": {"kind": "errors", "intercept": [502]},
    }
    api = {"use": ["ctype"], "operations": {"createPet": {"use": ["slow"]}, "showPet": {"use": ["mask"]}}}
    nginx = nginx_runner(build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=policies, api=api)), port)

    r = request("GET", f"{nginx.url}/v1/pets")  # the upstream's answer: the policy's type replaces its own
    assert (r.status, r.headers.get_all("Content-Type")) == (200, ["application/json; charset=utf-8"])
    assert request("POST", f"{nginx.url}/v1/pets").status == 200
    r = request("POST", f"{nginx.url}/v1/pets")  # the gateway's 429
    assert (r.status, r.headers.get_all("Content-Type"), r.headers.get("X-Mark")) == (429, ["application/json"], "1")
    assert r.json()["status"] == 429
    r = request("GET", f"{nginx.url}/v1/pets/1?__status=502")  # an intercepted upstream error
    assert (r.status, r.headers.get_all("Content-Type"), r.headers.get("X-Mark")) == (502, ["application/json"], "1")


def test_a_response_header_another_policy_writes_is_refused(tmp_path: Path) -> None:
    """A headers policy setting Access-Control-Allow-Origin where a cors policy applies sent two
    lines (seen live: `https://a.example` and `*`, so browsers refused every cross-origin answer);
    X-Cache-Status next to a cache policy the same (found by a hunt)."""
    from tests.support.traffic_build import compile_errors

    policies = {
        "star": {"kind": "headers", "response": {"set": {"Access-Control-Allow-Origin": "*"}}},
        "status": {"kind": "headers", "response": {"append": {"X-Cache-Status": "gw"}, "set": {"Vary": "Accept"}}},
        "cors": {"kind": "cors", "origins": ["https://a.example"]},
        "cached": {"kind": "cache"},
    }
    api = {"use": ["star"], "operations": {"listPets": {"use": ["cors", "status", "cached"]}}}
    errors = compile_errors(tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api=api))
    assert len(errors) == 2, errors  # Vary is a list: a second line adds to it
    assert "headers policy 'star' adds response header Access-Control-Allow-Origin" in errors[0]
    assert "on pets.listPets (a cors or cache policy there)" in errors[0]
    assert "headers policy 'status' adds response header X-Cache-Status" in errors[1]
    # Where no cors policy applies, the header is the headers policy's alone.
    api = {"operations": {"showPet": {"use": ["star"]}, "listPets": {"use": ["cors"]}}}
    ok = policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api=api)
    assert "Access-Control-Allow-Origin" in (build(tmp_path, ok, name="ok") / "api_conf.d/pets.conf").read_text()
