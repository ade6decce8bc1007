"""nginx variables a policy file may name (``balance: hash $var``): the ones nginx 1.22 (Debian's
build, with the modules the gateway loads) and NGINX Plus know. An unknown name passed the build
and failed ``nginx -t`` (found by a hunt)."""

from __future__ import annotations

import re

# ngx_http_core_module and the modules of Debian's nginx that define variables.
KNOWN = frozenset(
    """
    args binary_remote_addr body_bytes_sent bytes_sent connection connection_requests connection_time
    content_length content_type document_root document_uri host hostname https is_args limit_rate
    msec nginx_version pid pipe proxy_protocol_addr proxy_protocol_port proxy_protocol_server_addr
    proxy_protocol_server_port query_string realpath_root remote_addr remote_port remote_user request
    request_body request_body_file request_completion request_filename request_id request_length
    request_method request_time request_uri scheme server_addr server_name server_port
    server_protocol status tcpinfo_rtt tcpinfo_rttvar tcpinfo_snd_cwnd tcpinfo_rcv_space
    time_iso8601 time_local uri realip_remote_addr realip_remote_port proxy_add_x_forwarded_for
    proxy_host proxy_port ssl_cipher ssl_ciphers ssl_client_escaped_cert ssl_client_cert
    ssl_client_fingerprint ssl_client_i_dn ssl_client_i_dn_legacy ssl_client_raw_cert
    ssl_client_s_dn ssl_client_s_dn_legacy ssl_client_serial ssl_client_v_end ssl_client_v_remain
    ssl_client_v_start ssl_client_verify ssl_curve ssl_curves ssl_early_data ssl_protocol
    ssl_server_name ssl_session_id ssl_session_reused ssl_alpn_protocol http2 gzip_ratio
    limit_conn_status limit_req_status upstream_addr upstream_bytes_received upstream_bytes_sent
    upstream_cache_status upstream_connect_time upstream_header_time upstream_queue_time
    upstream_response_length upstream_response_time upstream_status invalid_referer
    """.split()
)
# Families: the name after the prefix is the header, cookie or argument.
PREFIXES = ("arg_", "cookie_", "http_", "sent_http_", "sent_trailer_", "upstream_cookie_", "upstream_http_", "upstream_trailer_")
PLUS_PREFIXES = ("jwt_claim_", "jwt_header_")

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def variables_in(expression: str) -> list[str]:
    """Names of the variables an nginx expression uses (``$a``, ``${b}``)."""
    return [m.group(1) or m.group(2) for m in _VARIABLE.finditer(expression)]


def unknown_variable(name: str, *, plus: bool, defined: set[str]) -> bool:
    """Whether nginx would refuse ``$name`` (``defined``: variables the bundle defines)."""
    if name in KNOWN or name in defined or name.isdigit():  # $1..$9: regex captures
        return False
    prefixes = PREFIXES + (PLUS_PREFIXES if plus else ())
    return not any(name.startswith(p) and len(name) > len(p) for p in prefixes)
