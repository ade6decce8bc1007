"""Build the typed IR from the schema-valid policy data and the loaded specs."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from apigen.diagnostics import Diagnostics, Position
from apigen.load.policy_loader import PolicySource
from apigen.load.spec_loader import SpecSet, load_spec, uri_path
from apigen.load.yaml_positions import YamlLoadError
from apigen.model.openapi import (
    SpecSummary,
    base_path_problem,
    base_path_warning,
    control_character,
    normalise_base_path,
    path_problem,
    spec_version,
    summarise_spec,
    unroutable_reason,
)
from apigen.model.types import (
    AccessLogSettings,
    Api,
    Attachment,
    Gateway,
    GatewayConfig,
    Listen,
    MetricsSettings,
    Operation,
    Parameter,
    PolicyDef,
    Retries,
    Timeouts,
    TlsCertificate,
    TlsSettings,
    TracingSettings,
    Upstream,
    UpstreamServer,
    UpstreamTls,
)
from apigen.targets import Target
from apigen.validate.spec_validate import validate_spec


def _duration(value: Any) -> str | None:
    if value is None:
        return None
    return f"{value}s" if isinstance(value, int) else str(value)


def _timeouts(data: Mapping[str, Any] | None) -> Timeouts:
    data = data or {}
    return Timeouts(_duration(data.get("connect")), _duration(data.get("read")), _duration(data.get("send")))


def _attachment(level: str, data: Mapping[str, Any], path: tuple) -> Attachment:
    return Attachment(
        level=level,
        use=tuple(data.get("use") or ()),
        skip=tuple(data.get("skip") or ()),
        upstream=data.get("upstream"),
        timeouts=_timeouts(data.get("timeouts")),
        path=path,
    )


def _listen(value: Any) -> Listen:
    if isinstance(value, int):
        return Listen(value)
    text = str(value)
    address, _, port = text.rpartition(":")
    return Listen(int(port), address if address != "*" else "")


def _listens(raw: Any) -> tuple[Listen, ...]:
    return tuple(_listen(v) for v in (raw if isinstance(raw, list) else [raw]))


def _tls(data: Mapping[str, Any] | None) -> TlsSettings | None:
    if not data:
        return None
    return TlsSettings(
        listen=_listens(data.get("listen", 8443)),
        certificate=data["certificate"],
        key=data["key"],
        client_certificate=data.get("client_certificate"),
        verify_client=str(data.get("verify_client", "optional")),
        verify_depth=int(data.get("verify_depth", 1)),
        certificates=tuple(
            TlsCertificate(tuple(c["server_names"]), c["certificate"], c["key"], ("gateway", "tls", "certificates", i))
            for i, c in enumerate(data.get("certificates") or ())
        ),
        protocols=tuple(data.get("protocols") or ("TLSv1.2", "TLSv1.3")),
        ciphers=data.get("ciphers"),
        hsts=data.get("hsts"),
        ocsp_stapling=data.get("ocsp_stapling"),
        reject_unknown_names=bool(data.get("reject_unknown_names", False)),
        redirect_http=bool(data.get("redirect_http", False)),
    )


def _observability(gw: Mapping[str, Any], source: PolicySource, diags: Diagnostics) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "access_log" in gw:
        a = gw["access_log"] or {}
        out["access_log"] = AccessLogSettings(
            path=a.get("path", "logs/access.json.log"), fields=tuple(sorted((a.get("fields") or {}).items()))
        )
    if "metrics" in gw:
        m = gw["metrics"]
        allow = _networks(m["allow"], source, diags, "gateway", "metrics", "allow") if m.get("allow") else ()
        out["metrics"] = MetricsSettings(_listen(m["listen"]), allow or ("127.0.0.1",))
    if "tracing" in gw:
        tr = gw["tracing"]
        out["tracing"] = TracingSettings(
            tr["exporter"], tr.get("service_name", "apigen-gateway"), tr.get("sample", "on")
        )
    if "http2" in gw:
        out["http2"] = True
        out["http2_cleartext"] = (
            _listens(gw["http2"]["cleartext_listen"]) if "cleartext_listen" in (gw["http2"] or {}) else ()
        )
    return out
def _networks(values: Any, source: PolicySource, diags: Diagnostics, *where: str | int) -> tuple[str, ...]:
    """Addresses or CIDR networks, as nginx's realip and allow take them, each checked where it is
    written (metrics.allow was not: "1.2.3" built and failed `nginx -t`; found by a hunt)."""
    out = []
    for i, value in enumerate(values):
        try:
            out.append(str(ipaddress.ip_network(value, strict=True)))
        except ValueError as exc:
            diags.error(f"invalid address or CIDR {value!r}: {exc}", source.pos(*where, i))
    return tuple(sorted(set(out)))


def _upstream(name: str, data: Mapping[str, Any]) -> Upstream:
    passive = data.get("passive_health") or {}
    servers = []
    for i, s in enumerate(data["servers"]):
        servers.append(
            UpstreamServer(
                address=s["address"],
                weight=s.get("weight"),
                backup=bool(s.get("backup", False)),
                down=bool(s.get("down", False)),
                max_conns=s.get("max_conns"),
                max_fails=s.get("max_fails", passive.get("max_fails")),
                fail_timeout=_duration(s.get("fail_timeout", passive.get("fail_timeout"))),
                slow_start=_duration(s.get("slow_start")),
                path=("upstreams", name, "servers", i),
            )
        )
    retries = None
    if "retries" in data:
        r = data["retries"]
        # nginx's default conditions when `on` is left out; `on: []` is "retry on nothing" (it
        # silently became nginx's default; found by a hunt).
        on = r.get("on")
        retries = Retries(
            ("error", "timeout") if on is None else tuple(on) or ("off",), r.get("tries"), _duration(r.get("timeout"))
        )
    protocol = data.get("protocol", "http")
    tls = None
    if protocol in ("https", "grpcs"):
        t = data.get("tls") or {}
        tls = UpstreamTls(
            verify=bool(t.get("verify", True)),
            trusted_ca=t.get("trusted_ca"),
            server_name=t.get("server_name"),
            client_certificate=t.get("client_certificate"),
            client_key=t.get("client_key"),
            path=("upstreams", name, "tls"),
        )
    return Upstream(
        name=name,
        servers=tuple(servers),
        balance=data.get("balance", "round_robin"),
        keepalive=data.get("keepalive"),
        timeouts=_timeouts(data.get("timeouts")),
        retries=retries,
        path=("upstreams", name),
        protocol=protocol,
        tls=tls,
    )


def _added_operations(
    source: PolicySource, api: Mapping[str, Any], path: tuple, spec_ops: tuple[Operation, ...], diags: Diagnostics
) -> tuple[tuple[Operation, ...], dict[str, Attachment]]:
    """Operations the policy file adds to an API (``add_operations``), with their attachments.
    Their positions point into the policy file."""
    ops: list[Operation] = []
    attachments: dict[str, Attachment] = {}
    ids = {o.operation_id for o in spec_ops}
    routes = {(o.method, o.route_path) for o in spec_ops}
    for op_id, data in sorted((api.get("add_operations") or {}).items()):
        where = (*path, "add_operations", op_id)
        method = data["method"].upper()
        if op_id in ids or (method, data["path"]) in routes:
            diags.error(
                f"add_operations: {op_id} ({method} {data['path']}) is already in the spec",
                source.pos(*where, key=True),
            )
            continue
        # Like a spec path: routed as nginx's decoded URI, so checked decoded too (`%0a`).
        bad = control_character(data["path"]) or control_character(unquote(data["path"]))
        if bad:
            diags.error(f"add_operations: path {data['path']!r} has a {bad}", source.pos(*where, "path"))
            continue
        # The spec paths' other checks too: `/x%7By%7D` was the template /x{y} (any /x...), and
        # `/x%2Fy` was served as /x/y while /x%2Fy got 400 (found by a hunt).
        bad = path_problem(data["path"])
        if bad:
            diags.error(f"add_operations: path {data['path']!r} {bad}", source.pos(*where, "path"))
            continue
        unroutable = unroutable_reason(data["path"])
        if unroutable:
            diags.warning(
                f"add_operations: path {data['path']!r} is never matched: {unroutable}",
                source.pos(*where, "path"),
                code="unroutable-path",
            )
        params = tuple(Parameter(name, "path", True) for name in re.findall(r"\{([^{}/]+)\}", data["path"]))
        ops.append(
            Operation(
                api=api["name"],
                operation_id=op_id,
                method=method,
                path=data["path"],
                route_path=unquote(data["path"]),
                parameters=params,
                spec_uri=source.path.resolve().as_uri(),
                spec_path=where,
                spec_display=source.display,  # its positions are in the policy file
            )
        )
        attachments[op_id] = _attachment("operation", data, where)
    return tuple(ops), attachments
def _message_prefix(policy_display: str) -> str:
    parent = os.path.dirname(policy_display)
    return parent + "/" if parent else ""


def load_api_specs(source: PolicySource, diags: Diagnostics) -> dict[int, tuple[SpecSet, SpecSummary]]:
    """Load, validate and summarise every API's spec; keyed by the API's index in ``apis``."""
    out: dict[int, tuple[SpecSet, SpecSummary]] = {}
    for index, api in enumerate(source.data.get("apis") or []):
        spec_file = api["spec"]
        try:
            if "\x00" in spec_file:
                raise YamlLoadError("file name has a NUL character", Position(spec_file))
            try:
                path = (source.base_dir / spec_file).resolve()
            except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
                raise YamlLoadError("cannot read file: too many levels of symbolic links", Position(spec_file)) from None
            specs = load_spec(
                path,
                source.base_dir,
                absolute_display=Path(spec_file).is_absolute(),
                message_prefix=_message_prefix(source.display),
            )
        except YamlLoadError as exc:
            if exc.position.line:  # readable but broken: point into the spec itself
                diags.error(exc.message, exc.position)
            else:  # missing, unreadable, binary: point at the policy line that names it
                diags.error(f"spec {spec_file!r}: {exc.message}", source.pos("apis", index, "spec"))
            continue
        version = spec_version(specs.root)
        # Every referenced document through apigen's loader first (positions, duplicate keys,
        # alias bombs, no network), then the validator, which reads only those (openapi_validators).
        if not specs.load_referenced(diags):
            continue
        if version is not None and not validate_spec(specs, version, diags):
            continue
        summary = summarise_spec(specs, api["name"], diags, base_path_given="base_path" in api)
        if summary is not None:
            out[index] = (specs, summary)
    return out


def build_config(
    source: PolicySource, specs: dict[int, tuple[SpecSet, SpecSummary]], diags: Diagnostics
) -> GatewayConfig:
    data = source.data
    target_data = data.get("target") or {}
    try:
        target = Target.parse(
            target_data.get("flavor", "oss"),
            str(target_data.get("version", "1.22")),
            target_data.get("njs"),
            target_data.get("modules") or (),
        )
    except ValueError as exc:  # the schema checks the form; the flavour/release pairing is checked here
        diags.error(f"target: {exc}", source.pos("target", "version"))
        plus = target_data.get("flavor") == "plus"
        target = Target.parse("plus" if plus else "oss", "R33" if plus else "1.22")  # go on checking the rest
    gw = data.get("gateway") or {}
    listen_raw = gw.get("listen", 8080)
    names_raw = gw.get("server_name", "_")
    gateway = Gateway(
        listen=tuple(_listen(v) for v in (listen_raw if isinstance(listen_raw, list) else [listen_raw])),
        server_names=tuple(names_raw if isinstance(names_raw, list) else [names_raw]),
        worker_processes=str(gw.get("worker_processes", "auto")),
        worker_connections=int(gw.get("worker_connections", 1024)),
        client_max_body_size=str(gw.get("client_max_body_size", "1m")),
        include_dir=str(gw.get("include_dir", "")),
        tls=_tls(gw.get("tls")),
        operation_header=gw.get("operation_header"),
        attachment=_attachment("gateway", gw, ("gateway",)),
        **_observability(gw, source, diags),
        trusted_proxies=_networks(gw.get("trusted_proxies") or (), source, diags, "gateway", "trusted_proxies"),
    )
    upstreams = {name: _upstream(name, u) for name, u in sorted((data.get("upstreams") or {}).items())}
    policies = {
        name: PolicyDef(name=name, kind=p["kind"], config=p, path=("policies", name))
        for name, p in sorted((data.get("policies") or {}).items())
    }
    apis = []
    digests = [(source.path.name, source.digest)]
    for index, api in enumerate(data.get("apis") or []):
        if index not in specs:
            # Its spec failed: the API is left out, but the names it refers to are still checked,
            # so one run reports the policy's errors with the spec's (found by a hunt).
            _check_left_out_api(source, data, api, index, diags)
            continue
        specset, summary = specs[index]
        for uri in sorted(specset.documents):
            file = uri_path(uri)  # `pet%20item.yaml` is `pet item.yaml`
            digests.append((specset.input_name(uri), hashlib.sha256(file.read_bytes()).hexdigest()))
        base = normalise_base_path(api["base_path"]) if "base_path" in api else summary.base_path
        path = ("apis", index)
        bad = base_path_problem(base, api["base_path"]) if "base_path" in api else None
        if bad:
            diags.error(f"base_path {base!r} {bad}", source.pos(*path, "base_path"))
        elif "base_path" in api and base_path_warning(api["base_path"]):
            diags.warning(
                f"base_path {api['base_path']!r} {base_path_warning(api['base_path'])}",
                source.pos(*path, "base_path"),
                code="unroutable-path",
            )
        added, added_attachments = _added_operations(source, api, path, summary.operations, diags)
        if not summary.operations and not added:
            diags.warning(
                f"API {api['name']!r} has no operations: its document has no paths (webhooks and "
                "components alone are not served)",
                source.pos(*path, "spec"),
                code="empty-api",
            )
        apis.append(
            Api(
                name=api["name"],
                spec_file=api["spec"],
                spec_uri=specset.root_uri,
                spec_version=summary.version,
                base_path=base,
                strip_base_path=bool(api.get("strip_base_path", False)),
                upstream=api["upstream"],
                attachment=_attachment("api", api, path),
                tags={t: _attachment("tag", v, (*path, "tags", t)) for t, v in sorted((api.get("tags") or {}).items())},
                operations_attachments={
                    **{
                        sel: _attachment("operation", v, (*path, "operations", sel))
                        for sel, v in (api.get("operations") or {}).items()
                    },
                    **added_attachments,
                },
                operations=summary.operations + added,
                security_schemes=summary.security_schemes,
                security=summary.security,
                path=path,
                specs=specset,
            )
        )
    return GatewayConfig(
        target=target,
        gateway=gateway,
        upstreams=upstreams,
        policies=policies,
        apis=tuple(apis),
        policy_file=source.display,
        input_digests=tuple(sorted(set(digests))),
    )


def check_names_of_invalid_policy(source: PolicySource, diags: Diagnostics) -> None:
    """The policy and upstream names a schema-invalid file refers to: the later checks need a
    valid file, but an unknown name is what a user fixes next, so one run reports both (schema
    errors hid every other error). Plain lookups on the raw data, each guarded by its type."""
    data = source.data
    if not isinstance(data, Mapping):
        return
    from apigen.validate.semantic import known_names

    policies = data.get("policies") if isinstance(data.get("policies"), Mapping) else {}
    upstreams = data.get("upstreams") if isinstance(data.get("upstreams"), Mapping) else {}

    def uses(node: object, path: tuple) -> None:
        if not isinstance(node, Mapping):
            return
        names = node.get("use")
        for i, name in enumerate(names if isinstance(names, list) else ()):
            if isinstance(name, str) and name not in policies:
                diags.error(f"unknown policy {name!r}", source.pos(*path, "use", i), hint=known_names("policies", policies))
        if "upstream" in node and isinstance(node["upstream"], str) and node["upstream"] not in upstreams:
            diags.error(
                f"unknown upstream {node['upstream']!r}", source.pos(*path, "upstream"), hint=known_names("upstreams", upstreams)
            )

    uses(data.get("gateway"), ("gateway",))
    apis = data.get("apis")
    for index, api in enumerate(apis if isinstance(apis, list) else ()):
        uses(api, ("apis", index))
        for section in ("tags", "operations", "add_operations"):
            entries = api.get(section) if isinstance(api, Mapping) else None
            for key, entry in (entries.items() if isinstance(entries, Mapping) else ()):
                uses(entry, ("apis", index, section, key))


def _check_left_out_api(source: PolicySource, data: Mapping[str, Any], api: Mapping[str, Any], index: int, diags: Diagnostics) -> None:
    """The upstream and policy names of an API whose spec did not load (the semantic checks see
    only the APIs that were built)."""
    from apigen.validate.semantic import known_names

    upstreams, policies = data.get("upstreams") or {}, data.get("policies") or {}
    if isinstance(api.get("upstream"), str) and api["upstream"] not in upstreams:
        diags.error(
            f"unknown upstream {api['upstream']!r}", source.pos("apis", index, "upstream"), hint=known_names("upstreams", upstreams)
        )
    for i, name in enumerate(api.get("use") or ()):
        if isinstance(name, str) and name not in policies:
            diags.error(f"unknown policy {name!r}", source.pos("apis", index, "use", i), hint=known_names("policies", policies))
