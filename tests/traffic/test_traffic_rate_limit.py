"""rate_limit / conn_limit: bundle checks and live counts against a real nginx."""

from __future__ import annotations

import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apigen.policies.rate_limit import retry_after, zone_size
from apigen.verify import iter_directives, parse_bundle
from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, compile_errors, policy_for

LIMITS = {
    "per-user": {"kind": "rate_limit", "rate": "2r/m", "burst": 3, "key": "header:X-User"},
    "exempt-local": {"kind": "rate_limit", "rate": "1r/m", "burst": 0, "exempt": {"ips": ["127.0.0.1/32"]}},
    "observe": {"kind": "rate_limit", "rate": "1r/m", "dry_run": True},
    "conns": {"kind": "conn_limit", "max": 50, "status": 503},
}
API = {
    "use": ["per-user", "conns"],
    "operations": {
        "showPet": {"use": ["exempt-local"]},
        "deletePet": {"use": ["exempt-local"], "skip": ["per-user"]},
        "ownerPet": {"use": ["observe"], "skip": ["per-user"]},
    },
}


def directives(bundle: Path, name: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    parsed = parse_bundle(bundle)
    return [(d.context, d.args) for d in iter_directives(parsed.payload) if d.directive == name]


def test_zone_size_and_retry_after() -> None:
    assert zone_size(1) == "1m"
    assert zone_size(10_000) == "2m"
    assert zone_size(1_000_000) == "123m"
    assert (retry_after("10r/s"), retry_after("2r/m"), retry_after("7r/m"), retry_after("600r/m")) == (1, 30, 9, 1)


def _unkeyed(text: str) -> str:
    """``text`` with the key digest taken off its zone names (``zone=apigen_rl_x_0123abcd``:
    see rate_limit.zone_name)."""
    return re.sub(r"(zone=apigen_(?:rl|cl)_\w+?)_[0-9a-f]{8}\b", r"\1", text)


def test_one_zone_per_policy_and_location_directives(tmp_path: Path) -> None:
    bundle = build(tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=LIMITS, api=API))
    zones = [(ctx, tuple(_unkeyed(a) for a in args)) for ctx, args in directives(bundle, "limit_req_zone")]
    # Three policies, five operations: one zone each, in http context.
    assert sorted(args[1].split(":")[0] for _, args in zones) == [
        "zone=apigen_rl_exempt_local",
        "zone=apigen_rl_observe",
        "zone=apigen_rl_per_user",
    ]
    assert all(ctx == ("http",) for ctx, _ in zones)
    per_user = next(args for _, args in zones if "per_user" in args[1])
    assert per_user == ("k:${http_x_user}", "zone=apigen_rl_per_user:2m", "rate=2r/m")
    limits = directives(bundle, "limit_req")
    by_op: dict[str, list[str]] = {}
    for ctx, args in limits:
        by_op.setdefault(ctx[-1], []).append(_unkeyed(" ".join(args)))
    show = next(v for k, v in by_op.items() if k.endswith("showPet"))
    assert show == ["zone=apigen_rl_per_user burst=3 nodelay", "zone=apigen_rl_exempt_local nodelay"]
    assert next(v for k, v in by_op.items() if k.endswith("deletePet")) == ["zone=apigen_rl_exempt_local nodelay"]
    # limit_req_status once per location even with two limits; dry-run only where asked.
    statuses = directives(bundle, "limit_req_status")
    assert len(statuses) == len({ctx for ctx, _ in statuses}) == len(by_op)
    assert [ctx[-1] for ctx, _ in directives(bundle, "limit_req_dry_run")] == [
        next(k for k in by_op if k.endswith("ownerPet"))
    ]
    assert {args for _, args in directives(bundle, "limit_conn_status")} == {("503",)}
    # The exemption maps the key to empty, which nginx does not count.
    text = (bundle / "api_gateway.conf").read_text()
    assert 'geo $apigen_rl_exempt_local_exempt_ip {\n    default "";\n    "127.0.0.1/32" "1";\n}' in text
    assert (
        'map "$apigen_rl_exempt_local_exempt_ip" $apigen_rl_exempt_local_key {\n    "" "$binary_remote_addr";' in text
    )


def test_invalid_rate_limits(tmp_path: Path) -> None:
    policies = {
        "bad-ip": {"kind": "rate_limit", "rate": "1r/s", "exempt": {"ips": ["300.1.1.1"]}},
        "bad-cookie": {"kind": "rate_limit", "rate": "1r/s", "key": "cookie:a-b"},
        "no-client": {"kind": "rate_limit", "rate": "1r/s", "key": ["client_ip", "api_key_client"]},
    }
    errors = compile_errors(tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies))
    text = "\n".join(errors)
    assert "not an IP address or CIDR network: '300.1.1.1'" in text
    assert "cookie name 'a-b' must be letters" in text
    assert "key 'api_key_client' needs $apigen_client" in text
    assert all(":" in e.split(" ")[0] for e in errors)  # every error has a file:line:col position
    errors = compile_errors(
        tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies={"r": {"kind": "rate_limit", "rate": "5r/h"}})
    )
    assert any("rate" in e for e in errors)


def test_a_dry_run_limit_next_to_an_enforcing_one_is_an_error(tmp_path: Path) -> None:
    """limit_req_dry_run is per location: a gateway-wide dry-run limit made the strict limit of
    an operation count-only too (found live: 4 of 4 requests over a 1r/m limit passed)."""
    policies = {
        "observe": {"kind": "rate_limit", "rate": "100r/s", "dry_run": True},
        "strict": {"kind": "rate_limit", "rate": "1r/m"},
    }
    api = {"use": ["observe"], "operations": {"createPet": {"use": ["strict"]}}}
    errors = compile_errors(tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api=api))
    [error] = [e for e in errors if "dry_run" in e]
    assert "'observe' applies to POST /pets (createPet), which also has the enforcing 'strict'" in error
    assert "limit_req_dry_run is per location" in error and "policy.json:" in error.split(" ")[0]


@pytest.mark.live
@requires_nginx
def test_rate_limit_counts_per_key(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    bundle = build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=LIMITS, api=API))
    nginx = nginx_runner(bundle, port)

    def statuses(method: str, path: str, n: int, user: str | None, wait: str = "30") -> list[int]:
        out = []
        for _ in range(n):
            r = request(method, f"{nginx.url}{path}", headers={"X-User": user} if user else {})
            if r.status == 429:
                assert r.headers["Retry-After"] == wait
                assert r.json()["status"] == 429
                assert r.headers["Content-Type"] == "application/json"
            out.append(r.status)
        return out

    # 2r/m with burst 3, nodelay: the first B+1 = 4 pass at once, the rest get 429.
    assert statuses("GET", "/v1/pets", 10, "alice") == [200] * 4 + [429] * 6
    # Another key has its own count; the zone is shared by every operation of the policy.
    assert statuses("GET", "/v1/pets", 2, "bob") == [200, 200]
    assert statuses("POST", "/v1/pets", 4, "bob") == [200, 200, 429, 429]
    # Requests without the header share one bucket (an empty key would not be counted at all).
    assert statuses("GET", "/v1/pets", 6, None) == [200] * 4 + [429] * 2
    # 127.0.0.1 is exempt from exempt-local (1r/m, burst 0): never counted.
    assert statuses("DELETE", "/v1/pets/1", 8, "carol") == [200] * 8
    # showPet: per-user still counts there (carol's first 4), exempt-local never rejects.
    assert statuses("GET", "/v1/pets/1", 6, "carol", wait="60") == [200] * 4 + [429] * 2
    # Dry run: counted and logged, never rejected.
    assert statuses("GET", "/v1/owners/1/pets/2", 5, "dave") == [200] * 5
    assert "limiting requests, dry run" in nginx.error_log()


@pytest.mark.live
@requires_nginx
def test_per_second_rate_and_connection_limit(tmp_path: Path, echo_backend, nginx_runner) -> None:
    backend = echo_backend("pets")
    port = free_port()
    policies = {
        "fast": {"kind": "rate_limit", "rate": "2r/s", "burst": 5},
        "one-at-a-time": {"kind": "conn_limit", "max": 1, "status": 503},
    }
    api = {"operations": {"listPets": {"use": ["fast"]}, "showPet": {"use": ["one-at-a-time"]}}}
    nginx = nginx_runner(
        build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=policies, api=api)), port
    )

    # 2r/s, burst 5: a tight loop gets B+1 = 6 through, plus one for every 500 ms it spans
    # (a loaded machine can stretch the loop past a second).
    started = time.monotonic()
    results = [request("GET", f"{nginx.url}/v1/pets") for _ in range(20)]
    spanned = time.monotonic() - started
    accepted = sum(r.status == 200 for r in results)
    assert 6 <= accepted <= 6 + math.ceil(spanned * 2), ([r.status for r in results], spanned)
    rejected = [r for r in results if r.status != 200]
    assert {r.status for r in rejected} == {429}
    assert {r.headers["Retry-After"] for r in rejected} == {"1"}

    # limit_conn: while one request is in flight, a second one gets the JSON 503.
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(request, "GET", f"{nginx.url}/v1/pets/1?__sleep=1.5", timeout=10)
        for _ in range(50):  # until the slow request is in flight (it sleeps 1.5s upstream)
            time.sleep(0.02)
            r = request("GET", f"{nginx.url}/v1/pets/2")
            if r.status == 503:
                break
        assert (r.status, r.json()["status"]) == (503, 503)
        assert r.headers["Retry-After"] == "1"  # a slot frees when any request ends
        assert slow.result().status == 200
    # nginx frees the slot when the slow request is finalised, which on a loaded machine can
    # come a moment after its client has the answer: the next request gets through once it has.
    deadline = time.monotonic() + 2
    while (status := request("GET", f"{nginx.url}/v1/pets/3").status) == 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 200


@pytest.mark.live
@requires_nginx
def test_each_limit_answers_its_own_retry_after(tmp_path: Path, echo_backend, nginx_runner) -> None:
    """One operation under a rate limit (Retry-After 60 s) and a concurrency limit, both 429: the
    concurrency rejection says 1 s (the rate limit's value is set in the location whichever
    limit rejects; $limit_conn_status tells which one did), the rate rejection says 60."""
    backend = echo_backend("pets")
    port = free_port()
    policies = {
        # A burst the concurrency part (at most 51 requests) cannot use up: its refusal is limit_conn's.
        "minute": {"kind": "rate_limit", "rate": "1r/m", "burst": 60, "delay": "nodelay"},
        "one-at-a-time": {"kind": "conn_limit", "max": 1},
    }
    api = {"operations": {"showPet": {"use": ["minute", "one-at-a-time"]}}}
    nginx = nginx_runner(build(tmp_path, policy_for(port, {"main": [backend.address]}, policies=policies, api=api)), port)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(request, "GET", f"{nginx.url}/v1/pets/1?__sleep=1.5", timeout=10)
        for _ in range(50):  # until the slow request is in flight: the next one hits limit_conn
            time.sleep(0.02)
            r = request("GET", f"{nginx.url}/v1/pets/2")
            if r.status == 429:
                break
        assert (r.status, r.headers["Retry-After"]) == (429, "1")
        assert slow.result().status == 200
    # Burst 60 at 1r/m: within 62 more requests the rate limit refuses, with its own wait.
    answers = [request("GET", f"{nginx.url}/v1/pets/3") for _ in range(62)]
    refused = [(r.status, r.headers.get("Retry-After")) for r in answers if r.status != 200]
    assert (429, "60") in refused and set(refused) <= {(429, "60"), (429, "1")}, refused
    # nginx frees a connection slot when the previous request is finalised, which on a loaded
    # machine can come just after its client has the answer: an occasional sequential request then
    # meets limit_conn. Each such refusal must be one nginx logged as limit_conn's, never the rate's.
    conn_logged = sum(
        "limiting connections" in line and "GET /v1/pets/3 " in line for line in nginx.error_log().splitlines()
    )
    assert refused.count((429, "1")) == conn_logged, nginx.error_log()


def test_conn_limit_alone_builds(tmp_path: Path) -> None:
    # A bundle with just limit_conn names no rate limit's variable: its Retry-After comes from
    # $limit_conn_status.
    policies = {"c": {"kind": "conn_limit", "max": 5}}
    bundle = build(tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api={"use": ["c"]}))
    errors = (bundle / "api_json_errors.conf").read_text()
    assert "apigen_retry_after" not in errors
    assert 'add_header "Retry-After" $apigen_conn_retry_after always;' in errors
    assert {args for _, args in directives(bundle, "limit_conn_status")} == {("429",)}


def test_delay_zero_queues_the_whole_burst(tmp_path: Path) -> None:
    """Found by a hunt: `delay: 0` built `delay=0`, which nginx refuses; it is nginx's default
    (no delay/nodelay parameter: every excess request within the burst waits)."""
    policies = {"q": {"kind": "rate_limit", "rate": "5r/s", "burst": 10, "delay": 0}}
    bundle = build(tmp_path, policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api={"use": ["q"]}))  # nginx -t
    assert {args[1:] for _, args in directives(bundle, "limit_req")} == {("burst=10",)}


def test_client_exemptions_with_a_kind_that_provides_the_client(tmp_path: Path) -> None:
    keys = tmp_path / "api-keys.txt"
    keys.write_text("ops: k-0123456789abcdef\n")
    policies = {
        "keys": {"kind": "api_key", "keys_file": str(keys)},
        "per-client": {
            "kind": "rate_limit",
            "rate": "10r/s",
            "key": "api_key_client",
            "exempt": {"ips": ["10.0.0.0/8"], "clients": ["ops", "default"]},
        },
    }
    policy = policy_for(8080, {"main": ["127.0.0.1:9"]}, policies=policies, api={"use": ["keys", "per-client"]})
    bundle = build(tmp_path, policy)
    text = (bundle / "api_gateway.conf").read_text()
    assert (
        'map $apigen_client $apigen_rl_per_client_exempt_client {\n    default "";\n    "\\\\default" "1";\n    "ops" "1";\n}'
        in text
    )
    assert (
        'map "$apigen_rl_per_client_exempt_ip$apigen_rl_per_client_exempt_client" $apigen_rl_per_client_key {\n'
        '    "" "k:${apigen_client}";\n    default "";\n}'
    ) in text
    assert 'limit_req_zone "$apigen_rl_per_client_key" zone=apigen_rl_per_client:2m rate=10r/s;' in _unkeyed(text)
