"""Teach crossplane 0.5.8 (2022) the directives it lacks or describes wrongly.

crossplane checks a directive's context and argument count only if the name is in
``crossplane.analyzer.DIRECTIVES``; an unknown name is silently accepted (strict=False), so every
directive we emit must be listed here to be checked at all. ``register_external_directives`` is
broken on Python 3 (``dict.iteritems``), so entries are assigned directly: calling
``extend_crossplane_directives()`` again just reassigns the same lists. Entries crossplane already
has (e.g. most Plus ones) are restated anyway, so the checks do not depend on which crossplane build
is installed (gixy's ``ngxparse`` fork installs into the same ``crossplane`` package).

Masks are copied from the ``ngx_command_t`` tables of nginx, njs (nginx/ngx_http_js_module.c,
ngx_stream_js_module.c) and nginx-otel; Plus-only ones from the nginx.org module pages.
"""

from __future__ import annotations

from crossplane import analyzer as a

_HTTP_MSL = a.NGX_HTTP_MAIN_CONF | a.NGX_HTTP_SRV_CONF | a.NGX_HTTP_LOC_CONF
_HTTP_MS = a.NGX_HTTP_MAIN_CONF | a.NGX_HTTP_SRV_CONF
_HTTP_LOC_ALL = a.NGX_HTTP_LOC_CONF | a.NGX_HTTP_LIF_CONF | a.NGX_HTTP_LMT_CONF
_HTTP_MSL_LMT = _HTTP_MSL | a.NGX_HTTP_LMT_CONF
_STREAM_MS = a.NGX_STREAM_MAIN_CONF | a.NGX_STREAM_SRV_CONF

EXTRA_DIRECTIVES: dict[str, list[int]] = {
    # --- njs (http and stream). js_set/js_content/js_path are present but too narrow in crossplane.
    "js_import": [_HTTP_MSL | a.NGX_CONF_TAKE13, _STREAM_MS | a.NGX_CONF_TAKE13],
    "js_preload_object": [_HTTP_MSL | a.NGX_CONF_TAKE13, _STREAM_MS | a.NGX_CONF_TAKE13],
    "js_path": [_HTTP_MSL | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    # TAKE23: njs 0.8.6 added the optional "nocache" flag.
    "js_set": [_HTTP_MSL | a.NGX_CONF_TAKE23, _STREAM_MS | a.NGX_CONF_TAKE23],
    "js_var": [_HTTP_MSL | a.NGX_CONF_TAKE12, _STREAM_MS | a.NGX_CONF_TAKE12],
    "js_content": [_HTTP_LOC_ALL | a.NGX_CONF_TAKE1],
    "js_header_filter": [_HTTP_LOC_ALL | a.NGX_CONF_TAKE1],
    "js_body_filter": [_HTTP_LOC_ALL | a.NGX_CONF_TAKE12],
    "js_access": [_STREAM_MS | a.NGX_CONF_TAKE1],
    "js_preread": [_STREAM_MS | a.NGX_CONF_TAKE1],
    "js_filter": [_STREAM_MS | a.NGX_CONF_TAKE1],
    "js_fetch_buffer_size": [_HTTP_MSL | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    "js_fetch_max_response_buffer_size": [
        _HTTP_MSL | a.NGX_CONF_TAKE1,
        _STREAM_MS | a.NGX_CONF_TAKE1,
    ],
    "js_fetch_timeout": [_HTTP_MSL | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    "js_fetch_ciphers": [_HTTP_MSL | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    "js_fetch_protocols": [_HTTP_MSL | a.NGX_CONF_1MORE, _STREAM_MS | a.NGX_CONF_1MORE],
    "js_fetch_verify": [_HTTP_MSL | a.NGX_CONF_FLAG, _STREAM_MS | a.NGX_CONF_FLAG],
    "js_fetch_verify_depth": [_HTTP_MSL | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    "js_fetch_trusted_certificate": [
        _HTTP_MSL | a.NGX_CONF_TAKE1,
        _STREAM_MS | a.NGX_CONF_TAKE1,
    ],
    "js_fetch_keepalive": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "js_fetch_keepalive_requests": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "js_fetch_keepalive_time": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "js_fetch_keepalive_timeout": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "js_fetch_proxy": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "js_shared_dict_zone": [
        a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_1MORE,
        a.NGX_STREAM_MAIN_CONF | a.NGX_CONF_1MORE,
    ],
    "js_periodic": [
        a.NGX_HTTP_LOC_CONF | a.NGX_CONF_ANY,
        a.NGX_STREAM_SRV_CONF | a.NGX_CONF_ANY,
    ],
    # --- nginx OSS directives newer than crossplane's table.
    "http2": [_HTTP_MS | a.NGX_CONF_FLAG],
    "http3": [_HTTP_MS | a.NGX_CONF_FLAG],
    "http3_hq": [_HTTP_MS | a.NGX_CONF_FLAG],
    "http3_max_concurrent_streams": [_HTTP_MS | a.NGX_CONF_TAKE1],
    "http3_stream_buffer_size": [_HTTP_MS | a.NGX_CONF_TAKE1],
    "quic_retry": [_HTTP_MS | a.NGX_CONF_FLAG],
    "quic_gso": [_HTTP_MS | a.NGX_CONF_FLAG],
    "quic_host_key": [_HTTP_MS | a.NGX_CONF_TAKE1],
    "ssl_reject_handshake": [_HTTP_MS | a.NGX_CONF_FLAG, _STREAM_MS | a.NGX_CONF_FLAG],
    "ssl_conf_command": [_HTTP_MS | a.NGX_CONF_TAKE2, _STREAM_MS | a.NGX_CONF_TAKE2],
    "proxy_ssl_conf_command": [_HTTP_MSL | a.NGX_CONF_TAKE2, _STREAM_MS | a.NGX_CONF_TAKE2],
    "grpc_ssl_conf_command": [_HTTP_MSL | a.NGX_CONF_TAKE2],
    "uwsgi_ssl_conf_command": [_HTTP_MSL | a.NGX_CONF_TAKE2],
    "ssl_ocsp": [_HTTP_MS | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    "ssl_ocsp_responder": [_HTTP_MS | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    "ssl_ocsp_cache": [_HTTP_MS | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    "ssl_certificate_cache": [_HTTP_MS | a.NGX_CONF_TAKE123, _STREAM_MS | a.NGX_CONF_TAKE123],
    "proxy_ssl_certificate_cache": [
        _HTTP_MSL | a.NGX_CONF_TAKE123,
        _STREAM_MS | a.NGX_CONF_TAKE123,
    ],
    "ssl_alpn": [_STREAM_MS | a.NGX_CONF_1MORE],
    "proxy_half_close": [_STREAM_MS | a.NGX_CONF_FLAG],
    # keepalive_time exists twice: client connections (core) and upstream keepalive cache.
    "keepalive_time": [_HTTP_MSL | a.NGX_CONF_TAKE1, a.NGX_HTTP_UPS_CONF | a.NGX_CONF_TAKE1],
    "keepalive_min_timeout": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "auth_delay": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "proxy_cookie_flags": [_HTTP_MSL | a.NGX_CONF_TAKE1234],
    "proxy_pass_trailers": [_HTTP_MSL | a.NGX_CONF_FLAG],
    "early_hints": [_HTTP_MSL | a.NGX_CONF_1MORE],
    "max_headers": [_HTTP_MS | a.NGX_CONF_TAKE1],
    "limit_req_dry_run": [_HTTP_MSL | a.NGX_CONF_FLAG],
    # --- ngx_otel_module (nginxinc/nginx-otel src/http_module.cpp); exporter children are private.
    "otel_exporter": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_BLOCK | a.NGX_CONF_NOARGS],
    "otel_service_name": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_TAKE1],
    "otel_resource_attr": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_TAKE2],
    "otel_trace": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "otel_trace_context": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "otel_span_name": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "otel_span_attr": [_HTTP_MSL | a.NGX_CONF_TAKE2],
    # --- NGINX Plus (nginx.org module pages). crossplane's auth_jwt entries miss limit_except.
    "auth_jwt": [_HTTP_MSL_LMT | a.NGX_CONF_TAKE12],
    "auth_jwt_key_file": [_HTTP_MSL_LMT | a.NGX_CONF_TAKE1],
    "auth_jwt_key_request": [_HTTP_MSL_LMT | a.NGX_CONF_TAKE1],
    "auth_jwt_require": [_HTTP_MSL_LMT | a.NGX_CONF_1MORE],
    "auth_jwt_type": [_HTTP_MSL_LMT | a.NGX_CONF_TAKE1],
    "auth_jwt_leeway": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "auth_jwt_key_cache": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "auth_jwt_claim_set": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_2MORE],
    "auth_jwt_header_set": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_2MORE],
    "health_check": [a.NGX_HTTP_LOC_CONF | a.NGX_CONF_ANY, a.NGX_STREAM_SRV_CONF | a.NGX_CONF_ANY],
    "health_check_timeout": [_STREAM_MS | a.NGX_CONF_TAKE1],
    "match": [
        a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_BLOCK | a.NGX_CONF_TAKE1,
        a.NGX_STREAM_MAIN_CONF | a.NGX_CONF_BLOCK | a.NGX_CONF_TAKE1,
    ],
    "keyval": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_TAKE3, a.NGX_STREAM_MAIN_CONF | a.NGX_CONF_TAKE3],
    "keyval_zone": [
        a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_1MORE,
        a.NGX_STREAM_MAIN_CONF | a.NGX_CONF_1MORE,
    ],
    "status_zone": [
        a.NGX_HTTP_SRV_CONF | a.NGX_HTTP_LOC_CONF | a.NGX_HTTP_LIF_CONF | a.NGX_CONF_TAKE1,
        a.NGX_STREAM_SRV_CONF | a.NGX_CONF_TAKE1,
    ],
    "api": [a.NGX_HTTP_LOC_CONF | a.NGX_CONF_NOARGS | a.NGX_CONF_TAKE1],
    "sticky": [a.NGX_HTTP_UPS_CONF | a.NGX_CONF_1MORE],
    "queue": [a.NGX_HTTP_UPS_CONF | a.NGX_CONF_TAKE12],
    "ntlm": [a.NGX_HTTP_UPS_CONF | a.NGX_CONF_NOARGS],
    "state": [a.NGX_HTTP_UPS_CONF | a.NGX_CONF_TAKE1, a.NGX_STREAM_UPS_CONF | a.NGX_CONF_TAKE1],
    "zone_sync": [a.NGX_STREAM_SRV_CONF | a.NGX_CONF_NOARGS],
    "zone_sync_server": [a.NGX_STREAM_SRV_CONF | a.NGX_CONF_TAKE12],
    "internal_redirect": [a.NGX_HTTP_SRV_CONF | a.NGX_HTTP_LOC_CONF | a.NGX_CONF_TAKE1],
    "mgmt": [a.NGX_MAIN_CONF | a.NGX_CONF_BLOCK | a.NGX_CONF_NOARGS],
    "ssl_key_log": [_HTTP_MS | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    "proxy_ssl_key_log": [_HTTP_MSL | a.NGX_CONF_TAKE1, _STREAM_MS | a.NGX_CONF_TAKE1],
    # --- ModSecurity-nginx 1.0.3 (third-party dynamic module, Debian libnginx-mod-http-modsecurity).
    "modsecurity": [_HTTP_MSL | a.NGX_CONF_FLAG],
    "modsecurity_rules": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "modsecurity_rules_file": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "modsecurity_rules_remote": [_HTTP_MSL | a.NGX_CONF_TAKE2],
    "modsecurity_transaction_id": [_HTTP_MSL | a.NGX_CONF_1MORE],
    # --- NGINX App Protect WAF (Plus; docs.nginx.com "Directives" of App Protect WAF v4).
    "app_protect_enable": [_HTTP_MSL | a.NGX_CONF_FLAG],
    "app_protect_policy_file": [_HTTP_MSL | a.NGX_CONF_TAKE1],
    "app_protect_security_log_enable": [_HTTP_MSL | a.NGX_CONF_FLAG],
    "app_protect_security_log": [_HTTP_MSL | a.NGX_CONF_TAKE2],
    "app_protect_failure_mode_action": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_TAKE1],
    "app_protect_cookie_seed": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_TAKE1],
    "app_protect_compressed_requests_action": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_TAKE1],
    "app_protect_request_buffer_overflow_action": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_TAKE1],
    "app_protect_user_defined_signatures": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_TAKE1],
    "app_protect_reconnect_period_seconds": [a.NGX_HTTP_MAIN_CONF | a.NGX_CONF_TAKE1],
}


def extend_crossplane_directives() -> None:
    """Install EXTRA_DIRECTIVES into crossplane's analyzer (idempotent)."""
    for name, masks in EXTRA_DIRECTIVES.items():
        a.DIRECTIVES[name] = list(masks)
