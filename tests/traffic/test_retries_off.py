"""`retries.on: []` means no retry (it silently became nginx's default `error timeout`; a hunt)."""

from __future__ import annotations

from pathlib import Path

from tests.support.ports import free_port
from tests.support.traffic_build import build, policy_for


def _retries_line(tmp_path: Path, retries: dict) -> list[str]:
    policy = policy_for(free_port(), {"main": ["127.0.0.1:9"]}, upstream_main={"retries": retries})
    conf = (build(tmp_path, policy) / "api_conf.d/pets.conf").read_text()
    return sorted({line.strip() for line in conf.splitlines() if "proxy_next_upstream " in line})


def test_an_empty_condition_list_switches_retries_off(tmp_path: Path) -> None:
    assert _retries_line(tmp_path / "a", {"on": []}) == ["proxy_next_upstream off;"]
    assert _retries_line(tmp_path / "b", {"tries": 2}) == ["proxy_next_upstream error timeout;"]
    assert _retries_line(tmp_path / "c", {"on": ["error", "non_idempotent"]}) == ["proxy_next_upstream error non_idempotent;"]
