"""Target capability table: parsing targets and deciding directive availability."""

from __future__ import annotations

import pytest

from apigen.targets import (
    PLUS_RELEASES,
    Target,
    directive_available,
    directive_table,
    unavailable_reason,
)

OSS_122 = Target.parse("oss", "1.22")
OSS_1251 = Target.parse("oss", "1.25.1")
PLUS_R33 = Target.parse("plus", "R33")


class TestParse:
    def test_oss_versions(self) -> None:
        assert OSS_122 == Target("oss", (1, 22))
        assert OSS_1251.version == (1, 25, 1)
        assert str(OSS_1251) == "nginx 1.25.1"

    @pytest.mark.parametrize(
        ("release", "base"),
        [("R30", (1, 25, 1)), ("r33", (1, 27, 2)), ("R34", (1, 27, 4)), ("R35", (1, 29, 0))],
    )
    def test_plus_release_maps_to_base_version(self, release: str, base: tuple[int, ...]) -> None:
        target = Target.parse("plus", release)
        assert target.flavor == "plus"
        assert target.version == base

    def test_plus_by_base_version_equals_release(self) -> None:
        assert Target.parse("PLUS", "1.27.2") == PLUS_R33

    def test_table_covers_r30_to_r35(self) -> None:
        assert {f"R{n}" for n in range(30, 36)} <= set(PLUS_RELEASES)

    @pytest.mark.parametrize(
        ("flavor", "version", "match"),
        [
            ("openresty", "1.22", "flavor"),
            ("oss", "R33", "NGINX Plus release"),
            ("plus", "R99", "unknown NGINX Plus release"),
            ("oss", "1.x", "invalid version"),
            ("oss", "", "invalid version"),
            # Below the directive data apigen has (found by a hunt: such targets were offered every directive).
            ("oss", "1.17.10", "older than 1.18.0"),
            ("plus", "1.16", "older than 1.18.0"),
        ],
    )
    def test_rejects_bad_input(self, flavor: str, version: str, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            Target.parse(flavor, version)


class TestAvailability:
    def test_http2_needs_1_25_1(self) -> None:
        assert directive_available(OSS_1251, "http2")
        assert not directive_available(OSS_122, "http2")
        assert not directive_available(Target.parse("oss", "1.25"), "http2")  # 1.25.0 lacks it
        assert (
            unavailable_reason(OSS_122, "http2") == "http2 needs nginx >= 1.25.1 (target is 1.22)"
        )

    def test_plus_only_directive(self) -> None:
        assert unavailable_reason(OSS_1251, "auth_jwt") == "auth_jwt needs NGINX Plus"
        assert directive_available(PLUS_R33, "auth_jwt")
        assert directive_available(PLUS_R33, "health_check")
        assert not directive_available(OSS_122, "health_check")

    def test_plus_had_sticky_and_least_time_before_oss(self) -> None:
        # The scan dates them by their OSS release (1.30.0, 1.31.0); Plus bases are older.
        for release in PLUS_RELEASES:
            for name in ("sticky", "least_time"):
                assert directive_available(Target.parse("plus", release), name), (release, name)
        assert unavailable_reason(OSS_1251, "sticky") == "sticky needs nginx >= 1.30.0 (target is 1.25.1)"
        assert not directive_available(Target.parse("oss", "1.30.0"), "least_time")

    def test_plus_has_oss_directives_of_its_base_version(self) -> None:
        assert directive_available(PLUS_R33, "proxy_pass")
        assert directive_available(PLUS_R33, "http2")  # R33 = 1.27.2
        assert not directive_available(Target.parse("plus", "R29"), "http2")  # R29 = 1.23.4

    def test_directives_present_since_scan_start_work_on_old_targets(self) -> None:
        # "since" equal to the first scanned release (1.22.1) must not reject a "1.22" target.
        for name in ("proxy_pass", "limit_req", "auth_request", "keepalive_time", "map"):
            assert directive_available(OSS_122, name), name

    def test_directives_added_before_the_scan_start_are_gated(self) -> None:
        """The table starts at 1.22.1; for 1.18 to 1.22.0 the changelog's versions decide (found by a
        hunt: a 1.18 target got ssl_reject_handshake, added in 1.19.4)."""
        old = Target.parse("oss", "1.18")
        assert unavailable_reason(old, "ssl_reject_handshake") == (
            "ssl_reject_handshake needs nginx >= 1.19.4 (target is 1.18)"
        )
        assert not directive_available(Target.parse("oss", "1.19.3"), "ssl_reject_handshake")
        assert directive_available(Target.parse("oss", "1.19.4"), "ssl_reject_handshake")
        assert not directive_available(Target.parse("oss", "1.19.9"), "keepalive_time")
        for name in ("proxy_pass", "limit_req", "limit_req_dry_run", "ssl_certificate", "map"):
            assert directive_available(old, name), name

    def test_njs_older_than_the_table_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"njs 0\.7\.0 is older than 0\.7\.9"):
            Target.parse("oss", "1.22", njs="0.7.0")

    def test_removed_directive(self) -> None:
        # `ssl` was last defined in 1.25.0 ("until" is inclusive).
        assert directive_available(Target.parse("oss", "1.24"), "ssl")
        assert directive_available(Target.parse("oss", "1.25.0"), "ssl")
        reason = unavailable_reason(OSS_1251, "ssl")
        assert reason is not None and "1.25.0" in reason

    def test_njs_versions(self) -> None:
        for name in ("js_import", "js_set", "js_var", "js_content", "js_preload_object"):
            assert directive_available(OSS_122, name), name
        assert unavailable_reason(OSS_122, "js_shared_dict_zone") == (
            "js_shared_dict_zone needs njs >= 0.8.0 (target njs is 0.7.9)"
        )
        assert directive_available(Target.parse("oss", "1.22", njs="0.8.0"), "js_shared_dict_zone")

    def test_unknown_directive(self) -> None:
        assert unavailable_reason(PLUS_R33, "proxy_passs") == 'unknown directive "proxy_passs"'

    def test_otel_needs_module_on_oss(self) -> None:
        assert not directive_available(OSS_1251, "otel_trace")
        assert "ngx_otel_module" in (unavailable_reason(OSS_1251, "otel_trace") or "")
        assert directive_available(Target.parse("oss", "1.25.3", modules=["otel"]), "otel_trace")
        assert not directive_available(Target.parse("oss", "1.22", modules=["otel"]), "otel_trace")
        assert directive_available(PLUS_R33, "otel_exporter")


def test_table_is_shipped_in_package_and_cached() -> None:
    table = directive_table()
    assert table is directive_table()
    assert {"oss", "njs", "plus_only"} <= set(table)
    assert "proxy_pass" in table["oss"] and "js_import" in table["njs"]
    assert "auth_jwt" in table["plus_only"]


def test_every_policy_kind_has_its_nginx_phase() -> None:
    # explain lists policies in nginx's order by this table: names no kind has (limit_conn, ip,
    # basic) put conn_limit, ip_access and basic_auth after the headers (found by a hunt).
    from apigen.lint.kinds import KIND_PHASE
    from apigen.policies import registry

    assert sorted(registry) == sorted(KIND_PHASE)
