"""Bundles using aggregation, protocols, TLS and observability: crossplane parse, the target's
directive table, `nginx -t` for OSS 1.22, and the validation errors for what a target lacks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import trustme

from apigen.diagnostics import CompileError
from apigen.pipeline import compile_policy
from apigen.plan.observability import LOG_FIELDS, log_format
from apigen.targets import Target
from apigen.verify import check_directives_for_target, parse_bundle
from tests.support.compose import build, openapi, write_inputs
from tests.support.nginx import requires_nginx

SPEC = openapi(
    {
        "/users/{id}/summary": {"get": "userSummary"},
        "/users/{id}": {"get": "getUser"},
        "/ws": {"get": "socket"},
        "/echo.Echo/Say": {"post": "Say"},
    }
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    for stem, name in (("api", "api.test"), ("other", "other.test"), ("client", "gw.test")):
        cert = ca.issue_cert(name)
        cert.private_key_pem.write_to_path(str(root / f"{stem}.key"))
        cert.cert_chain_pems[0].write_to_path(str(root / f"{stem}.pem"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    return root


def full_policy(pki: Path, target: dict[str, Any], **gateway: Any) -> dict[str, Any]:
    return {
        "target": target,
        "gateway": {
            "listen": 8080,
            "server_name": "api.test",
            "tls": {
                "listen": 8443,
                "certificate": str(pki / "api.pem"),
                "key": str(pki / "api.key"),
                "hsts": {"max_age": 63072000, "include_subdomains": True},
                "reject_unknown_names": True,
                "redirect_http": True,
            },
            "http2": {"cleartext_listen": 8081},
            "access_log": {},
            "metrics": {"listen": "127.0.0.1:9113"},
            **gateway,
        },
        "upstreams": {
            "users": {"servers": [{"address": "127.0.0.1:9001"}], "keepalive": 4},
            "secure": {
                "servers": [{"address": "10.0.0.5:443"}],
                "protocol": "https",
                "tls": {
                    "trusted_ca": str(pki / "ca.pem"),
                    "server_name": "orders.internal",
                    "client_certificate": str(pki / "client.pem"),
                    "client_key": str(pki / "client.key"),
                },
            },
            "grpc": {"servers": [{"address": "127.0.0.1:50051"}], "protocol": "grpc", "timeouts": {"read": "5s"}},
        },
        "policies": {
            "summary": {
                "kind": "aggregate",
                "on_error": "omit",
                "parts": [
                    {"name": "user", "upstream": "users", "path": "/users/{id}"},
                    {
                        "name": "orders",
                        "upstream": "secure",
                        "path": "/orders",
                        "query": {"user": "{id}", "q": "{query.q}"},
                    },
                ],
            },
            "ws": {"kind": "websocket"},
        },
        "apis": [
            {
                "name": "users",
                "spec": "users.json",
                "upstream": "users",
                "operations": {
                    "userSummary": {"use": ["summary"]},
                    "socket": {"use": ["ws"]},
                    "Say": {"upstream": "grpc"},
                },
            }
        ],
    }


def directives(bundle: Path) -> list[tuple[str, tuple[str, ...]]]:
    parsed = parse_bundle(bundle)
    assert parsed.ok, parsed.errors
    out = []
    for f in parsed.payload["config"]:
        stack = list(f["parsed"])
        while stack:
            d = stack.pop()
            out.append((d["directive"], tuple(d["args"])))
            stack.extend(d.get("block") or ())
    return out


@requires_nginx
def test_oss_122_bundle_passes_nginx_t(tmp_path, pki) -> None:
    bundle = build(tmp_path, full_policy(pki, {"flavor": "oss", "version": "1.22"}), {"users.json": SPEC})
    found = directives(bundle)
    names = {d for d, _ in found}
    assert ("listen", ("8443", "ssl", "http2")) in found  # before 1.25.1: the listen parameter
    assert ("listen", ("8081", "http2")) in found
    assert "http2" not in names
    assert ("ssl_reject_handshake", ("on",)) in found
    assert ("ssl_protocols", ("TLSv1.2", "TLSv1.3")) in found
    assert ("stub_status", ()) in found and "api" not in names
    assert ("grpc_pass", ("grpc://grpc",)) in found
    assert ("js_content", ("apigen_aggregate.aggregate",)) in found
    assert ("proxy_ssl_verify", ("on",)) in found and ("proxy_ssl_name", ("orders.internal",)) in found
    assert ("proxy_set_header", ("Upgrade", "$apigen_upgrade")) in found
    assert not check_directives_for_target(parse_bundle(bundle).payload, Target.parse("oss", "1.22"))
    for secret in ("secrets/api.key", "secrets/client.key"):
        assert (bundle / secret).stat().st_mode & 0o777 == 0o600
    njs = (bundle / "njs" / "apigen_aggregate.js").read_text()
    assert '"users.userSummary"' in njs and '"required": false' in njs


def test_plus_bundle_metrics_tracing_http2_on(tmp_path, pki) -> None:
    policy = full_policy(
        pki, {"flavor": "plus", "version": "R33"}, tracing={"exporter": "otel.internal:4317", "sample": "parent"}
    )
    bundle = build(tmp_path, policy, {"users.json": SPEC}, check=False)
    found = directives(bundle)
    assert ("api", ("write=off",)) in found
    assert ("status_zone", ("users",)) in found
    assert ("http2", ("on",)) in found and ("listen", ("8443", "ssl")) in found
    assert ("otel_trace", ("$otel_parent_sampled",)) in found
    assert ("otel_trace_context", ("propagate",)) in found
    assert ("load_module", ("/usr/lib/nginx/modules/ngx_otel_module.so",)) in found
    fmt = next(args for d, args in found if d == "log_format")
    assert '"trace_id":"$otel_trace_id"' in fmt[-1]
    assert not check_directives_for_target(parse_bundle(bundle).payload, Target.parse("plus", "R33"))


def test_oss_with_otel_module(tmp_path, pki) -> None:
    policy = full_policy(
        pki, {"flavor": "oss", "version": "1.25.3", "modules": ["otel"]}, tracing={"exporter": "c:4317"}
    )
    bundle = build(tmp_path, policy, {"users.json": SPEC}, check=False)
    found = directives(bundle)
    assert ("otel_trace", ("on",)) in found and ("http2", ("on",)) in found
    assert not check_directives_for_target(
        parse_bundle(bundle).payload, Target.parse("oss", "1.25.3", modules=["otel"])
    )


def errors_of(tmp_path: Path, policy: dict[str, Any]) -> list[str]:
    path = write_inputs(tmp_path / "in", policy, {"users.json": SPEC})
    with pytest.raises(CompileError) as exc:
        compile_policy(path)
    return [d.format() for d in exc.value.diagnostics.errors]


def test_tracing_without_module_is_a_validation_error(tmp_path, pki) -> None:
    errs = errors_of(tmp_path, full_policy(pki, {"flavor": "oss", "version": "1.22"}, tracing={"exporter": "c:4317"}))
    assert any("ngx_otel_module" in e and "policy.yaml:" in e for e in errs), errs


def test_reject_handshake_needs_1194(tmp_path, pki) -> None:
    errs = errors_of(tmp_path, full_policy(pki, {"flavor": "oss", "version": "1.18"}))
    assert any("ssl_reject_handshake needs nginx >= 1.19.4" in e for e in errs), errs


def test_aggregate_placeholder_and_grpc_part_errors(tmp_path, pki) -> None:
    policy = full_policy(pki, {"flavor": "oss", "version": "1.22"})
    policy["policies"]["summary"]["parts"] += [
        {"name": "bad", "upstream": "users", "path": "/x/{nope}"},
        {"name": "g", "upstream": "grpc", "path": "/g"},
    ]
    errs = errors_of(tmp_path, policy)
    assert any("{nope} is not a path parameter of users.userSummary" in e for e in errs), errs
    assert any("cannot call a gRPC upstream" in e for e in errs), errs


def test_upstream_verify_needs_ca_and_secret_headers_not_logged(tmp_path, pki) -> None:
    policy = full_policy(pki, {"flavor": "oss", "version": "1.22"})
    del policy["upstreams"]["secure"]["tls"]["trusted_ca"]
    policy["gateway"]["access_log"] = {"fields": {"key": "X-Api-Key", "tenant": "X-Tenant"}}
    errs = errors_of(tmp_path, policy)
    assert any("verify needs trusted_ca" in e for e in errs), errs
    assert any("'X-Api-Key' may carry credentials" in e for e in errs), errs
    assert not any("X-Tenant" in e for e in errs)


def test_log_format_includes_variables_other_kinds_provide() -> None:
    from apigen.model.types import AccessLogSettings, Gateway, GatewayConfig

    config = GatewayConfig(Target.parse("oss", "1.22"), Gateway(access_log=AccessLogSettings()), {}, {}, (), "p", ())
    # As nginx would print it: variables replaced by values (numbers unquoted).
    without = json.loads(re.sub(r"\$\w+", "0", log_format(config, frozenset(), False)))
    assert without["auth_client"] is None and without["variant"] is None
    with_vars = log_format(config, frozenset({"apigen_client", "apigen_variant"}), False)
    assert '"auth_client":"$apigen_client"' in with_vars and '"variant":"$apigen_variant"' in with_vars
    assert '"rate_limit":"$limit_req_status"' in with_vars
    assert [f.name for f in LOG_FIELDS][:2] == ["time", "request_id"]
    assert "authorization" not in with_vars.lower()


def test_same_inputs_same_bundle(tmp_path, pki) -> None:
    path = write_inputs(tmp_path / "in", full_policy(pki, {"flavor": "oss", "version": "1.22"}), {"users.json": SPEC})
    a, b = compile_policy(path).bundle, compile_policy(path).bundle
    assert a is not None and b is not None and a.digest() == b.digest()


def test_added_operation_must_be_new(tmp_path, pki) -> None:
    policy = full_policy(pki, {"flavor": "oss", "version": "1.22"})
    policy["apis"][0]["add_operations"] = {"getUser": {"method": "GET", "path": "/elsewhere"}}
    errs = errors_of(tmp_path, policy)
    assert any(
        "add_operations: getUser (GET /elsewhere) is already in the spec" in e and "policy.yaml:" in e for e in errs
    )
