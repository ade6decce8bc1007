"""Verify stage: crossplane parse-back, directive/target check, and a real `nginx -t`."""

from __future__ import annotations

import shutil
from pathlib import Path

import crossplane.analyzer
import pytest

from apigen.targets import PLUS_RELEASES, Target
from apigen.verify import (
    EXTRA_DIRECTIVES,
    NginxNotFoundError,
    check_directives_for_target,
    extend_crossplane_directives,
    iter_directives,
    parse_bundle,
    parse_nginx_output,
    run_nginx_t,
)

needs_nginx = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx binary not on PATH")

JS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"

# All that nginx -t writes goes under the -p prefix (logs/ exists there), not /var/log or /var/lib.
MAIN_CONF = f"""\
load_module {JS_MODULE};
pid logs/nginx.pid;
error_log logs/error.log;
events {{}}
http {{
    access_log logs/access.log;
    client_body_temp_path logs/client_body;
    proxy_temp_path logs/proxy;
    fastcgi_temp_path logs/fastcgi;
    uwsgi_temp_path logs/uwsgi;
    scgi_temp_path logs/scgi;
    include conf.d/*.conf;
}}
"""

API_CONF = """\
js_import auth from js/auth.js;
js_var $claims;
js_set $user auth.user;
map $http_x_canary $pool {
    default stable;
    "~^1$"  canary;
}
server {
    listen 127.0.0.1:8080;
    server_name api.example.com;
    location /v1/pets {
        proxy_pass http://127.0.0.1:9000;
    }
    location = /_auth {
        internal;
        js_content auth.check;
    }
}
"""

AUTH_JS = """\
function user(r) { return r.headersIn['x-user'] || ''; }
function check(r) { r.return(204); }
export default { user, check };
"""


def write_bundle(root: Path, api_conf: str = API_CONF, main: str = MAIN_CONF) -> Path:
    (root / "conf.d").mkdir(parents=True)
    (root / "js").mkdir()
    (root / "nginx.conf").write_text(main)
    (root / "conf.d" / "api.conf").write_text(api_conf)
    (root / "js" / "auth.js").write_text(AUTH_JS)
    return root


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


class TestCrossplaneTable:
    def test_idempotent_and_installed(self) -> None:
        extend_crossplane_directives()
        extend_crossplane_directives()
        for name in ("js_import", "js_var", "http2", "keepalive_time", "auth_jwt_require"):
            assert crossplane.analyzer.DIRECTIVES[name] == EXTRA_DIRECTIVES[name]

    def test_brief_directives_are_covered(self) -> None:
        wanted = {
            "js_import", "js_set", "js_content", "js_var", "js_preload_object", "js_path",
            "js_fetch_timeout", "js_fetch_verify", "js_access", "js_header_filter",
            "js_body_filter", "http2", "ssl_reject_handshake", "proxy_ssl_conf_command",
            "keepalive_time", "auth_jwt_require", "auth_jwt_type", "otel_exporter", "otel_trace",
            "otel_trace_context", "otel_span_name", "otel_span_attr", "otel_service_name",
            "limit_req_dry_run", "health_check", "match", "zone_sync", "keyval", "keyval_zone",
            "status_zone", "api", "sticky",
        }  # fmt: skip
        assert wanted <= set(EXTRA_DIRECTIVES)


class TestParseBundle:
    def test_new_directives_parse_cleanly(self, tmp_path: Path) -> None:
        extra = """\
server {
    listen 127.0.0.1:8443;
    http2 on;
    keepalive_time 1h;
    ssl_reject_handshake on;
    proxy_ssl_conf_command Options PrioritizeChaCha;
    location / { otel_trace on; js_header_filter auth.check; limit_req_dry_run on; }
}
"""
        bundle = write_bundle(tmp_path, API_CONF + extra)
        result = parse_bundle(bundle)
        assert result.ok, result.errors
        names = {ref.directive for ref in iter_directives(result.payload)}
        assert {"js_import", "js_var", "js_set", "js_content", "http2", "otel_trace"} <= names

    def test_new_directive_arguments_are_checked(self, tmp_path: Path) -> None:
        # Only possible because js_var is in the table: crossplane skips names it does not know.
        bundle = write_bundle(tmp_path, "js_var $a 1 2;\n")
        result = parse_bundle(bundle)
        assert [(e.file, e.line) for e in result.errors] == [("conf.d/api.conf", 1)]
        assert 'invalid number of arguments in "js_var"' in result.errors[0].message

    def test_misplaced_directive_reported_with_file_and_line(self, tmp_path: Path) -> None:
        api = API_CONF + "proxy_pass http://127.0.0.1:9000;\n"
        bundle = write_bundle(tmp_path, api)
        result = parse_bundle(bundle)
        assert not result.ok
        (err,) = result.errors
        assert err.file == "conf.d/api.conf"
        assert err.line == len(api.splitlines())  # the appended line, at http level
        assert err.message == '"proxy_pass" directive is not allowed here'
        assert str(err) == f'conf.d/api.conf:{err.line}: "proxy_pass" directive is not allowed here'

    def test_misplaced_directive_after_an_include_names_no_other_file(self, tmp_path: Path) -> None:
        """crossplane 0.5.8 names the last included file in the message of an error that follows an
        include in the same block; the message must not contradict the error's file and line."""
        main = MAIN_CONF.replace("include conf.d/*.conf;", "server {\n include conf.d/*.conf;\n match m { status 200; }\n}")
        assert main != MAIN_CONF
        api = "location / { proxy_pass http://127.0.0.1:9000; }\n"
        result = parse_bundle(write_bundle(tmp_path, api, main))
        errors = [e for e in result.errors if e.file == "nginx.conf"]
        assert errors, result.errors
        assert errors[0].message == '"match" directive is not allowed here'
        assert all("conf.d/api.conf" not in e.message for e in result.errors), result.errors

    def test_js_content_at_server_level_rejected(self, tmp_path: Path) -> None:
        api = "server { listen 127.0.0.1:8080;\n js_content auth.check;\n}\n"
        result = parse_bundle(write_bundle(tmp_path, api))
        assert [(e.file, e.line) for e in result.errors] == [("conf.d/api.conf", 2)]

    def test_map_entries_are_not_unknown_directives(self, tmp_path: Path) -> None:
        result = parse_bundle(write_bundle(tmp_path))
        assert result.ok, result.errors
        assert check_directives_for_target(result.payload, Target.parse("oss", "1.22")) == []

    def test_includes_resolve_against_main_file_directory(self, tmp_path: Path) -> None:
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc" / "nginx.conf").write_text("events {}\nhttp { include sub.conf; }\n")
        (tmp_path / "etc" / "sub.conf").write_text("server_tokens off;\n")
        result = parse_bundle(tmp_path, main="etc/nginx.conf")
        assert result.ok, result.errors
        refs = [r for r in iter_directives(result.payload) if r.directive == "server_tokens"]
        assert [(r.file, r.context) for r in refs] == [("etc/sub.conf", ("http",))]

    def test_missing_include_reported(self, tmp_path: Path) -> None:
        main = MAIN_CONF.replace("include conf.d/*.conf;", "include missing.conf;")
        result = parse_bundle(write_bundle(tmp_path, main=main))
        (err,) = result.errors
        assert err.file == "nginx.conf"
        assert err.line == line_of(main, "include missing.conf")
        assert "missing.conf" in err.message and str(tmp_path) not in err.message

    def test_missing_main_file(self, tmp_path: Path) -> None:
        result = parse_bundle(tmp_path)
        assert [(e.file, e.message) for e in result.errors] == [
            ("nginx.conf", "main configuration file not found")
        ]


class TestIterDirectives:
    def test_context_paths_follow_blocks_and_includes(self, tmp_path: Path) -> None:
        result = parse_bundle(write_bundle(tmp_path))
        by_name = {r.directive: r for r in iter_directives(result.payload)}
        proxy = by_name["proxy_pass"]
        assert proxy.file == "conf.d/api.conf"
        assert proxy.line == line_of(API_CONF, "proxy_pass")
        assert proxy.context == ("http", "server api.example.com", "location /v1/pets")
        assert proxy.args == ("http://127.0.0.1:9000",)
        assert by_name["js_content"].context[-1] == "location = /_auth"
        assert by_name["js_import"].context == ("http",)
        assert by_name["events"].context == () and by_name["events"].file == "nginx.conf"

    def test_document_order(self, tmp_path: Path) -> None:
        result = parse_bundle(write_bundle(tmp_path))
        names = [r.directive for r in iter_directives(result.payload)]
        # The include is followed in place: api.conf's directives come right after it.
        i = names.index("include")
        assert names[i + 1 : i + 4] == ["js_import", "js_var", "js_set"]


class TestTargetCheck:
    def test_plus_only_directive_flagged_on_oss_allowed_on_plus(self, tmp_path: Path) -> None:
        api = "server {\n listen 127.0.0.1:8080;\n location / {\n  auth_jwt api;\n }\n}\n"
        result = parse_bundle(write_bundle(tmp_path, api))
        assert result.ok, result.errors
        oss = check_directives_for_target(result.payload, Target.parse("oss", "1.25.1"))
        assert [(e.file, e.line, e.message) for e in oss] == [
            ("conf.d/api.conf", 4, "auth_jwt needs NGINX Plus")
        ]
        assert check_directives_for_target(result.payload, Target.parse("plus", "R33")) == []

    def test_plus_upstream_directives_older_than_their_oss_release(self, tmp_path: Path) -> None:
        """sticky and least_time came to OSS in 1.30.0 / 1.31.0 but are NGINX Plus directives of
        every release apigen knows (found by a hunt: a Plus bundle with them failed the check)."""
        api = (
            "upstream a {\n zone a 64k;\n least_time header;\n server 127.0.0.1:9000;\n"
            " sticky cookie srv_id expires=1h;\n}\n"
        )
        result = parse_bundle(write_bundle(tmp_path, api))
        assert result.ok, result.errors
        for release in PLUS_RELEASES:
            assert check_directives_for_target(result.payload, Target.parse("plus", release)) == [], release
        oss = check_directives_for_target(result.payload, Target.parse("oss", "1.29.0"))
        assert [(e.line, e.message) for e in oss] == [
            (3, "least_time needs nginx >= 1.31.0 (target is 1.29.0)"),
            (5, "sticky needs nginx >= 1.30.0 (target is 1.29.0)"),
        ]

    def test_http2_by_version(self, tmp_path: Path) -> None:
        api = "server {\n listen 127.0.0.1:8443;\n http2 on;\n}\n"
        result = parse_bundle(write_bundle(tmp_path, api))
        assert check_directives_for_target(result.payload, Target.parse("oss", "1.25.1")) == []
        errors = check_directives_for_target(result.payload, Target.parse("oss", "1.22"))
        assert [(e.line, e.message) for e in errors] == [
            (3, "http2 needs nginx >= 1.25.1 (target is 1.22)")
        ]

    def test_unknown_directive_flagged_even_on_plus(self, tmp_path: Path) -> None:
        result = parse_bundle(write_bundle(tmp_path, "proxy_buffring off;\n"))
        assert result.ok  # crossplane (strict=False) lets unknown names through
        errors = check_directives_for_target(result.payload, Target.parse("plus", "R35"))
        assert [(e.file, e.line, e.message) for e in errors] == [
            ("conf.d/api.conf", 1, 'unknown directive "proxy_buffring"')
        ]

    def test_to_diagnostic(self, tmp_path: Path) -> None:
        result = parse_bundle(write_bundle(tmp_path, "http2 on;\n"))
        (err,) = check_directives_for_target(result.payload, Target.parse("oss", "1.22"))
        diag = err.to_diagnostic(code="target")
        assert diag.format().startswith("conf.d/api.conf:1:1: error: http2 needs nginx >= 1.25.1")


class TestNginxOutput:
    def test_parses_stderr_and_log_formats(self, tmp_path: Path) -> None:
        text = (
            f'nginx: [emerg] unknown directive "x" in {tmp_path}/conf.d/a.conf:3\n'
            "nginx: configuration file /etc/nginx.conf test failed\n"
            f"2024/01/02 03:04:05 [warn] 12#12: duplicate value in /elsewhere/b.conf:7\n"
            'nginx: [emerg] open() "/x in /y" failed (2: No such file or directory)\n'
        )
        msgs = parse_nginx_output(text, (tmp_path,))
        assert [(m.file, m.line, m.level, m.text) for m in msgs] == [
            ("conf.d/a.conf", 3, "emerg", 'unknown directive "x"'),
            ("/elsewhere/b.conf", 7, "warn", "duplicate value"),
            (None, None, "emerg", 'open() "/x in /y" failed (2: No such file or directory)'),
        ]

    def test_missing_binary(self, tmp_path: Path) -> None:
        with pytest.raises(NginxNotFoundError):
            run_nginx_t(write_bundle(tmp_path), nginx="/nonexistent/nginx")


@needs_nginx
class TestRunNginxT:
    def test_good_bundle_with_njs(self, tmp_path: Path) -> None:
        bundle = write_bundle(tmp_path / "b")
        before = sorted(p.relative_to(bundle) for p in bundle.rglob("*"))
        result = run_nginx_t(bundle)
        assert result.ok, result.output
        assert result.errors == []
        # The user's bundle is left as it was (no logs/, temp dirs or pid written into it).
        assert sorted(p.relative_to(bundle) for p in bundle.rglob("*")) == before

    def test_unknown_directive_in_included_file(self, tmp_path: Path) -> None:
        api = API_CONF.replace("internal;", "internal;\n        bogus_directive on;")
        bundle = write_bundle(tmp_path / "b", api)
        result = run_nginx_t(bundle)
        assert not result.ok
        (msg,) = result.errors
        assert (msg.file, msg.line, msg.level) == (
            "conf.d/api.conf",
            line_of(api, "bogus"),
            "emerg",
        )
        assert msg.text == 'unknown directive "bogus_directive"'
        assert f"{bundle}/conf.d/api.conf" in result.output  # the user's path, not the temp copy's

    def test_missing_js_module_is_caught(self, tmp_path: Path) -> None:
        bundle = write_bundle(tmp_path / "b")
        (bundle / "js" / "auth.js").unlink()
        result = run_nginx_t(bundle)
        assert not result.ok
        # njs names the prefix directory ("in <prefix>/:1"), which is no file position.
        assert [(m.file, m.line) for m in result.errors] == [(None, None)]
        assert 'Cannot find module "js/auth.js"' in result.errors[0].text

    def test_js_syntax_error_points_into_js_file(self, tmp_path: Path) -> None:
        bundle = write_bundle(tmp_path / "b")
        (bundle / "js" / "auth.js").write_text("function user(r) {\n  return {{;\n")
        result = run_nginx_t(bundle)
        assert not result.ok
        (msg,) = result.errors
        assert msg.file == "js/auth.js" and msg.text.startswith("SyntaxError"), result.output

    def test_http2_directive_rejected_by_nginx_1_22(self, tmp_path: Path) -> None:
        # What the target table predicts for an OSS 1.22 target, confirmed by the real binary.
        bundle = write_bundle(tmp_path / "b", "server {\n listen 127.0.0.1:8443;\n http2 on;\n}\n")
        result = run_nginx_t(bundle)
        version = _nginx_version()
        if version >= (1, 25, 1):
            assert result.ok, result.output
        else:
            assert [(m.file, m.line) for m in result.errors] == [("conf.d/api.conf", 3)]


def _nginx_version() -> tuple[int, ...]:
    import re
    import subprocess

    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False).stderr
    match = re.search(r"nginx/(\d+(?:\.\d+)*)", out)
    assert match, out
    return tuple(int(p) for p in match.group(1).split("."))


class TestNamedLocations:
    """error_page/try_files targets that do not exist pass `nginx -t` and answer HTML 500s."""

    def test_a_missing_named_location_is_reported_where_it_is_used(self, tmp_path: Path) -> None:
        from apigen.verify.named_locations import check_named_locations

        conf = API_CONF.replace(
            "        proxy_pass http://127.0.0.1:9000;\n",
            "        proxy_pass http://127.0.0.1:9000;\n        error_page 502 = @gone;\n        error_page 504 = @there;\n",
        ).replace("    location = /_auth {", "    location @there {\n        return 504;\n    }\n    location = /_auth {")
        bundle = write_bundle(tmp_path, conf)
        errors = check_named_locations(parse_bundle(bundle).payload)
        assert [(e.file, e.line, e.message.split(":")[0]) for e in errors] == [
            ("conf.d/api.conf", line_of(conf, "@gone"), "no location @gone in this server")
        ]

    def test_a_named_location_of_another_server_does_not_count(self, tmp_path: Path) -> None:
        from apigen.verify.named_locations import check_named_locations

        conf = API_CONF.replace("        proxy_pass http://127.0.0.1:9000;\n", "        error_page 502 = @other;\n        proxy_pass http://127.0.0.1:9000;\n")
        conf += "server {\n    listen 127.0.0.1:8081;\n    server_name b.example.com;\n    location @other {\n        return 502;\n    }\n}\n"
        errors = check_named_locations(parse_bundle(write_bundle(tmp_path, conf)).payload)
        assert [e.line for e in errors] == [line_of(conf, "= @other")]
