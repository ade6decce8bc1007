"""NGINX Plus active health checks in the verify stage: what NGINX Plus would refuse at load time
(Plus cannot run here, so nothing else sees it; found by a hunt: a hand-edited bundle with
`health_check intervall=5s` or a `statuss` test in its match block passed verification)."""

from __future__ import annotations

from pathlib import Path

from apigen.diagnostics import Diagnostics
from apigen.targets import Target
from apigen.verify import parse_bundle
from apigen.verify.health_checks import check_health_checks
from apigen.verify_bundle import verify_bundle_dir

MAIN = """\
pid logs/nginx.pid;
events {}
http {
    upstream zoned { zone zoned 64k; server 127.0.0.1:9000; }
    upstream bare { server 127.0.0.1:9001; }
    match ok { status 200-399; header Content-Type ~ json; body ~ "ok"; }
    server {
        listen 127.0.0.1:8080;
        include checks.conf;
    }
}
"""


def problems(tmp_path: Path, checks: str, main: str = MAIN) -> list[tuple[int | None, str]]:
    (tmp_path / "nginx.conf").write_text(main)
    (tmp_path / "checks.conf").write_text(checks)
    parsed = parse_bundle(tmp_path)
    assert parsed.ok, parsed.errors
    return [(e.line, e.message) for e in check_health_checks(parsed.payload)]


def test_what_apigen_emits_passes(tmp_path: Path) -> None:
    checks = """\
location @hc_http { proxy_pass http://zoned; health_check interval=5s fails=3 passes=2 uri=/healthz match=ok mandatory persistent; }
location @hc_grpc { grpc_pass grpcs://zoned; health_check interval=5s mandatory type=grpc; }
"""
    assert problems(tmp_path, checks) == []


def test_unknown_or_malformed_parameters(tmp_path: Path) -> None:
    checks = """\
location @a { proxy_pass http://zoned; health_check intervall=5s; }
location @b { proxy_pass http://zoned; health_check fails=three uri=healthz persistent; }
location @c { proxy_pass http://zoned; health_check grpc_service=x; }
"""
    assert problems(tmp_path, checks) == [
        (1, 'health_check: invalid parameter "intervall=5s"'),
        (2, 'health_check: invalid value in "fails=three"'),
        (2, 'health_check: invalid value in "uri=healthz"'),
        (2, 'health_check: "persistent" needs "mandatory"'),
        (3, 'health_check: "grpc_service" and "grpc_status" need "type=grpc"'),
    ]


def test_references_match_upstream_zone_and_protocol(tmp_path: Path) -> None:
    checks = """\
location @a { proxy_pass http://zoned; health_check match=missing; }
location @b { proxy_pass http://bare; health_check; }
location @c { proxy_pass http://$group; health_check; }
location @d { health_check; }
location @e { proxy_pass http://zoned; health_check type=grpc; }
"""
    assert problems(tmp_path, checks) == [
        (1, 'health_check: no match block "missing" at http level'),
        (2, 'health_check: upstream "bare" has no zone: health checks need the group in shared memory'),
        (3, "health_check: proxy_pass http://$group names no upstream group by name"),
        (4, "health_check: its location passes requests to no upstream group (proxy_pass or grpc_pass)"),
        (5, 'health_check: "type=grpc" goes with grpc_pass, and only with it'),
    ]


def test_match_block_tests(tmp_path: Path) -> None:
    main = MAIN.replace('body ~ "ok";', 'body ~ "ok"; statuss 200;')
    assert problems(tmp_path, "", main) == [(6, 'unknown test "statuss" in match (status, header or body)')]


def test_the_build_verify_stage_reports_them(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(MAIN)
    (tmp_path / "checks.conf").write_text("location @a { proxy_pass http://bare; health_check; }\n")
    diags = Diagnostics()
    verify_bundle_dir(tmp_path, Target.parse("plus", "R33"), diags)
    messages = [d.format() for d in diags.items]
    assert any("checks.conf:1:1: error: generated configuration: health_check: upstream \"bare\" has no zone" in m for m in messages), messages
