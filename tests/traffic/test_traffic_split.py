"""split: canary shares, sticky keys, overrides, blue-green flips - bundle checks and live."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.support.http import request
from tests.support.nginx import requires_nginx
from tests.support.ports import free_port
from tests.support.traffic_build import build, compile_errors, policy_for

CANARY = {
    "kind": "split",
    "weights": {"stable": 80, "canary": 20},
    "overrides": [
        {"header": "X-Canary", "value": "always", "upstream": "canary"},
        {"cookie": "variant", "value": "stable", "upstream": "stable"},
        {"query": "variant", "value": "canary", "upstream": "canary"},
    ],
}
STICKY = {"kind": "split", "weights": {"stable": 50, "canary": 50}, "key": "header:X-User"}


def test_split_config_and_chained_overrides(tmp_path: Path) -> None:
    policy = policy_for(
        8080,
        {"stable": ["127.0.0.1:9"], "canary": ["127.0.0.1:10"]},
        policies={"canary": CANARY},
        api={"use": ["canary"]},
    )
    bundle = build(tmp_path, policy)
    text = (bundle / "api_gateway.conf").read_text()
    assert 'split_clients "$request_id" $apigen_split_canary_pick {\n    20% "canary";\n    * "stable";\n}' in text
    # First override is the outermost map: its default falls through to the next, then the split.
    assert (
        'map $http_x_canary $apigen_split_canary {\n    "~^always\\\\z" "canary";\n    default $apigen_split_canary_o1;'
        in text
    )
    assert (
        'map $cookie_variant $apigen_split_canary_o1 {\n    "~^stable\\\\z" "stable";\n    default $apigen_split_canary_o2;'
        in text
    )
    assert (
        'map $arg_variant $apigen_split_canary_o2 {\n    "~^canary\\\\z" "canary";\n    default $apigen_split_canary_pick;'
        in text
    )
    ops = (bundle / "api_conf.d/pets.conf").read_text()
    locations = ops.count('location "@apigen_op/')
    assert locations >= 1 and ops.count("proxy_pass http://$apigen_split_canary;") == locations


def test_split_validation(tmp_path: Path) -> None:
    bad = {
        "w": {"kind": "split", "weights": {"stable": 80, "canary": 30}},
        "o": {
            "kind": "split",
            "weights": {"stable": 100},
            "overrides": [{"header": "X-C", "value": "1", "upstream": "canary"}],
        },
        "u": {"kind": "split", "weights": {"stable": 50, "nope": 50}},
        # split_clients takes two decimals: 0.001 % would be rendered 0 % (never served).
        "p": {"kind": "split", "weights": {"stable": 99.999, "canary": 0.001}},
        "q": {"kind": "split", "weights": {"stable": 87.5, "canary": 12.5}},
        # Named as written, not rounded to six digits ("weight 100", "add up to 100, not 100").
        "r": {"kind": "split", "weights": {"stable": 99.99999, "canary": 0.0000001}},
    }
    errors = "\n".join(
        compile_errors(
            tmp_path, policy_for(8080, {"stable": ["127.0.0.1:9"], "canary": ["127.0.0.1:10"]}, policies=bad)
        )
    )
    assert "split weights add up to 110, not 100" in errors
    assert "override upstream 'canary' is not one of the split's variants" in errors
    assert "unknown upstream 'nope'" in errors
    assert "weight 99.999 of 'stable' has more than two decimals" in errors
    assert "weight 0.001 of 'canary' has more than two decimals" in errors
    assert "12.5" not in errors and "87.5" not in errors
    assert "weight 99.99999 of 'stable' has more than two decimals" in errors
    assert "weight 1e-07 of 'canary' has more than two decimals" in errors
    assert "split weights add up to 99.9999901, not 100" in errors


@pytest.mark.live
@requires_nginx
def test_canary_shares_sticky_and_overrides(tmp_path: Path, echo_backend, nginx_runner) -> None:
    stable, canary = echo_backend("stable"), echo_backend("canary")
    port = free_port()
    policy = policy_for(
        port,
        {"stable": [stable.address], "canary": [canary.address]},
        policies={"canary": CANARY, "sticky": STICKY},
        api={"use": ["canary"], "operations": {"showPet": {"use": ["sticky"]}}},
    )
    nginx = nginx_runner(build(tmp_path, policy), port)

    def backend(path: str, headers: dict[str, str] | None = None) -> str:
        r = request("GET", f"{nginx.url}{path}", headers=headers)
        assert r.status == 200
        return r.json()["backend"]

    n = 2000
    shares = Counter(backend("/v1/pets") for _ in range(n))
    assert abs(shares["canary"] / n - 0.20) < 0.04, shares
    # Overrides win over the split, the first matching one over later ones.
    assert {backend("/v1/pets", {"X-Canary": "always"}) for _ in range(30)} == {"canary"}
    assert {backend("/v1/pets", {"Cookie": "variant=stable"}) for _ in range(30)} == {"stable"}
    assert {backend("/v1/pets?variant=canary") for _ in range(30)} == {"canary"}
    assert {backend("/v1/pets?variant=canary", {"Cookie": "variant=stable"}) for _ in range(30)} == {"stable"}
    assert {backend("/v1/pets", {"X-Canary": "always", "Cookie": "variant=stable"}) for _ in range(30)} == {"canary"}
    # Values compare exactly (nginx's literal map keys ignore case: `ALWAYS` pinned too).
    assert {backend("/v1/pets", {"X-Canary": "ALWAYS", "Cookie": "variant=Stable"}) for _ in range(200)} == {"stable", "canary"}
    # Sticky: a user always lands on the same variant; users spread about evenly.
    first = {}
    for user in range(300):
        seen = {backend("/v1/pets/1", {"X-User": f"user-{user}"}) for _ in range(3)}
        assert len(seen) == 1, (user, seen)
        first[user] = seen.pop()
    assert abs(Counter(first.values())["canary"] / 300 - 0.5) < 0.12


@pytest.mark.live
@requires_nginx
def test_blue_green_flip_is_one_line(tmp_path: Path, echo_backend, nginx_runner) -> None:
    blue, green = echo_backend("blue"), echo_backend("green")
    port = free_port()

    def bundle(weights: dict[str, int], name: str) -> Path:
        policy = policy_for(
            port,
            {"blue": [blue.address], "green": [green.address]},
            policies={"live": {"kind": "split", "weights": weights}},
            api={"use": ["live"]},
        )
        return build(tmp_path, policy, name=name)

    before, after = bundle({"blue": 100, "green": 0}, "before"), bundle({"blue": 0, "green": 100}, "after")
    nginx = nginx_runner(before, port)
    assert {request("GET", f"{nginx.url}/v1/pets").json()["backend"] for _ in range(50)} == {"blue"}
    nginx.reload(after)
    assert {request("GET", f"{nginx.url}/v1/pets").json()["backend"] for _ in range(50)} == {"green"}
    # The generated change is as small as the policy change: one split line (plus input digests).
    a = (before / "api_gateway.conf").read_text().splitlines()
    b = (after / "api_gateway.conf").read_text().splitlines()
    changed = [
        line
        for line in difflib.unified_diff(a, b, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---", "+#", "-#"))
    ]
    assert changed == ['-    * "blue";', '+    * "green";']


def test_variants_must_be_proxied_like_the_operations_upstream(tmp_path: Path) -> None:
    """The split's locations are written for the operation's upstream: an https variant was
    spoken to in plain HTTP (found live), and a variant's own timeouts, retries and keepalive
    are ignored. A scheme or TLS difference is an error, the others a warning."""
    from apigen.pipeline import compile_policy
    from tests.support.traffic_build import PETS_SPEC

    split = {"bg": {"kind": "split", "weights": {"main": 50, "green": 50}}}
    ups = {"main": ["127.0.0.1:9"], "green": ["127.0.0.1:10"]}
    errors = compile_errors(tmp_path, policy_for(8080, ups, policies=split, api={"use": ["bg"]}, upstream_green={"protocol": "https"}))
    [error] = [e for e in errors if "split variant" in e]
    assert "split variant 'green' differs from 'main'" in error and "in protocol" in error
    src = tmp_path / "ok"
    src.mkdir()
    (src / "pets.json").write_text(json.dumps(PETS_SPEC))
    (src / "policy.json").write_text(json.dumps(
        policy_for(8080, ups, policies=split, api={"use": ["bg"]}, upstream_green={"timeouts": {"read": "1s"}})
    ))
    warnings = [d.message for d in compile_policy(src / "policy.json", render=False).diagnostics if d.code == "split-variant-settings"]
    assert warnings == [
        "split variant 'green' differs from 'main', the upstream of the operations the split applies to, in timeouts: "
        "their locations are written for 'main', so 'green' would be proxied with 'main''s settings"
    ]
