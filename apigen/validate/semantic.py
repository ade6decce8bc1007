"""Cross-reference checks that JSON Schema cannot express: names that must exist, selectors that
must match, features the target lacks."""

from __future__ import annotations

import ipaddress
import re

from apigen.diagnostics import Diagnostics
from apigen.load.policy_loader import PolicySource
from apigen.model.types import Api, Attachment, GatewayConfig, Operation
from apigen.policies import registry
from apigen.policies.rate_limit import defined_variables
from apigen.validate.variables import unknown_variable, variables_in


def select_operations(api: Api, selector: str) -> list[Operation]:
    """Operations an ``operations:`` key names: an operationId, or ``METHOD /path`` (``*`` = any)."""
    method, sep, path = selector.partition(" ")
    if sep and path.startswith("/"):
        method = method.upper()
        return [o for o in api.operations if o.path == path and method in ("*", o.method)]
    return [o for o in api.operations if o.operation_id == selector]


def _check_attachment(att: Attachment, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
    kinds = {p.kind for p in config.policies.values()}
    for i, name in enumerate(att.use):
        if name not in config.policies:
            diags.error(
                f"unknown policy {name!r}", source.pos(*att.path, "use", i), hint=known_names("policies", config.policies)
            )
    for i, name in enumerate(att.skip):
        if name not in config.policies and name not in kinds:
            diags.error(
                f"skip: {name!r} is neither a policy name nor a policy kind in use", source.pos(*att.path, "skip", i)
            )
    if att.upstream is not None and att.upstream not in config.upstreams:
        diags.error(
            f"unknown upstream {att.upstream!r}",
            source.pos(*att.path, "upstream"),
            hint=known_names("upstreams", config.upstreams),
        )


# Balancing methods whose nginx modules accept neither `backup` nor (Plus) `slow_start`.
_NO_BACKUP = frozenset(("ip_hash", "hash", "random"))


def _port(address: str) -> int | None:
    if address.startswith("unix:"):
        return None
    host_port = address.rsplit("]", 1)[-1]  # after an IPv6 literal
    _, sep, port = host_port.rpartition(":")
    return int(port) if sep and port.isdigit() else None


def _check_listen_ports(source: PolicySource, diags: Diagnostics) -> None:
    """The schema bounds integer ports; ``address:port`` strings are checked here."""
    gateway = source.data.get("gateway") or {}
    places = [(("gateway", "listen"), gateway.get("listen"))]
    tls = gateway.get("tls") or {}
    places.append((("gateway", "tls", "listen"), tls.get("listen")))
    for path, value in places:
        values = value if isinstance(value, list) else [value]
        for i, item in enumerate(values):
            if isinstance(item, str):
                port = _port(item) if ":" in item else int(item) if item.isdigit() else None
                if port is not None and not 1 <= port <= 65535:
                    where = (*path, i) if isinstance(value, list) else path
                    diags.error(f"port {port} is out of range (1-65535)", source.pos(*where))


def _check_name_collisions(config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
    """Names that nginx would read as one: policies name zones and variables by a stem where case
    and `-`/`_` are lost (two such policies shared one zone, and one silently replaced the other:
    a CORS policy allowed another's origin with credentials; found by a hunt); nginx compares
    upstream names ignoring case ("duplicate upstream")."""
    for what, names, stem in (
        ("policy", config.policies, lambda n: n.lower().replace("-", "_")),
        ("upstream", config.upstreams, str.lower),
    ):
        seen: dict[str, str] = {}
        for name, item in names.items():
            other = seen.setdefault(stem(name), name)
            if other != name:
                diags.error(
                    f"{what} name {name!r} is the same as {other!r} for nginx "
                    f"({'case and - or _ are not told apart' if what == 'policy' else 'case is not told apart'}); rename one",
                    source.pos(*item.path, key=True),
                )


def _listen_key(value: object) -> tuple[str, int] | None:
    text = str(value)
    if text.isdigit():
        return ("*", int(text))
    port = _port(text)
    if port is None:
        return None
    host = text.rsplit(":", 1)[0]
    bare = host.strip("[]")
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bare):  # nginx reads 127.0.0.01 as 127.0.0.1; Python refuses it
        bare = ".".join(str(int(part)) for part in bare.split("."))
    try:  # one address however it is written (127.0.0.01, [0:0::1]; found by a hunt)
        address = ipaddress.ip_address(bare)
    except ValueError:
        return (host, port)  # a host name: compared as written
    return ("*" if address.is_unspecified else str(address), port)


def _check_metrics_listen(source: PolicySource, diags: Diagnostics) -> None:
    """The metrics server on an address the gateway listens on took the port (it came first):
    every API request got nginx's HTML 404, and stub_status was public (found by a hunt)."""
    gateway = source.data.get("gateway") or {}
    metrics = gateway.get("metrics") or {}
    mine = _listen_key(metrics.get("listen")) if isinstance(metrics, dict) and metrics.get("listen") is not None else None
    if mine is None:
        return
    listens = []
    for path in (("listen",), ("tls", "listen"), ("http2", "cleartext_listen")):
        node: object = gateway
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        listens += node if isinstance(node, list) else [] if node is None else [node]
    if "listen" not in gateway:
        listens.append(8080)  # the default listeners
    if isinstance(gateway.get("tls"), dict) and "listen" not in gateway["tls"]:
        listens.append(8443)
    for value in listens:
        other = _listen_key(value)
        if other and other[1] == mine[1] and (other[0] == mine[0] or "*" in (other[0], mine[0])):
            diags.error(
                f"metrics.listen {metrics['listen']} is an address the gateway listens on ({value}): the metrics "
                "server would take it; use a port of its own",
                source.pos("gateway", "metrics", "listen"),
            )
            return


def _check_tls_dependencies(source: PolicySource, diags: Diagnostics) -> None:
    """TLS settings that only work together with another one (found by a hunt: each was dropped
    without a word). ``verify_client: on`` without the CA of client certificates served clients
    without a certificate; an upstream ``tls`` without protocol https/grpcs sent its requests in
    cleartext."""
    tls = (source.data.get("gateway") or {}).get("tls")
    if isinstance(tls, dict) and not tls.get("client_certificate"):
        for key in ("verify_client", "verify_depth"):
            if key in tls:
                diags.error(
                    f"{key} needs client_certificate (the CA that signs client certificates): without it nginx "
                    "verifies no client certificate",
                    source.pos("gateway", "tls", key, key=True),
                    hint="add gateway.tls.client_certificate, or remove " + key,
                )
    upstreams = source.data.get("upstreams") or {}
    for name, upstream in upstreams.items() if isinstance(upstreams, dict) else ():
        if isinstance(upstream, dict) and "tls" in upstream and upstream.get("protocol", "http") not in ("https", "grpcs"):
            protocol = upstream.get("protocol", "http")
            diags.error(
                f"tls needs protocol https or grpcs: with protocol {protocol} the gateway talks to the servers in "
                "cleartext and these settings are not used",
                source.pos("upstreams", name, "tls", key=True),
                hint=f"set protocol: {'grpcs' if protocol == 'grpc' else 'https'}, or remove tls",
            )


def known_names(what: str, names: object) -> str:
    listed = ", ".join(sorted(names)) if names else "none"  # type: ignore[call-overload]
    return f"defined {what}: {listed}"


def check_semantics(config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
    seen: dict[str, Api] = {}
    for api in config.apis:
        # Ignoring case: API names key nginx maps, whose lookups are lowercased.
        if api.name.lower() in seen:
            other = seen[api.name.lower()].name
            also = "" if other == api.name else f" (as {other!r}, ignoring case)"
            diags.error(f"duplicate API name {api.name!r}{also}", source.pos(*api.path, "name"))
        seen[api.name.lower()] = api
        _check_attachment(api.attachment, config, source, diags)  # its upstream is the API's
        spec_tags = {t for o in api.operations for t in o.tags}
        for tag, att in api.tags.items():
            if tag not in spec_tags:
                diags.error(f"tag {tag!r} matches no operation of API {api.name!r}", source.pos(*att.path, key=True))
            _check_attachment(att, config, source, diags)
        for selector, att in api.operations_attachments.items():
            if not select_operations(api, selector):
                diags.error(
                    f"operation selector {selector!r} matches no operation of API {api.name!r}",
                    source.pos(*att.path, key=True),
                    hint="use an operationId or `METHOD /path` as written in the spec",
                )
            elif " /" in selector and any(o.operation_id == selector for o in api.operations):
                diags.warning(
                    f"operation selector {selector!r} is read as `METHOD /path`, but an operation of API "
                    f"{api.name!r} also has it as operationId: that operation is not selected",
                    source.pos(*att.path, key=True),
                    hint="select that operation by its path instead",
                )
            _check_attachment(att, config, source, diags)
    _check_attachment(config.gateway.attachment, config, source, diags)

    _check_name_collisions(config, source, diags)
    for upstream in config.upstreams.values():
        method = upstream.balance.split(" ", 1)[0]
        if method == "hash":
            for name in variables_in(upstream.balance):
                if unknown_variable(name, plus=config.target.is_plus, defined=defined_variables(config)):
                    diags.error(
                        f"balance: ${name} is not an nginx variable (nginx -t would refuse it)",
                        source.pos(*upstream.path, "balance"),
                        hint="hash on $request_uri, $remote_addr, $http_<header>, $cookie_<name> or $arg_<name>",
                    )
        if upstream.servers and all(server.backup for server in upstream.servers):
            # nginx: `no servers in upstream` (backup servers only take over from primary ones).
            diags.error(
                "every server of this upstream is a backup: nginx needs at least one primary server",
                source.pos(*upstream.path, "servers"),
            )
        if upstream.retries and upstream.retries.on == ("non_idempotent",):
            diags.error(
                "retries.on: non_idempotent only widens the other conditions to POST, LOCK and PATCH; alone it "
                "switches every retry off (name the conditions, e.g. [error, timeout, non_idempotent])",
                source.pos(*upstream.path, "retries", "on"),
            )
        for server in upstream.servers:
            if server.slow_start and config.target.flavor != "plus":
                diags.error(
                    "slow_start needs NGINX Plus (target flavor is oss)", source.pos(*server.path, "slow_start")
                )
            if server.slow_start and method in _NO_BACKUP:
                diags.error(
                    f"slow_start cannot be used with {method} balancing (nginx refuses it)",
                    source.pos(*server.path, "slow_start"),
                )
            if server.backup and method in _NO_BACKUP:
                diags.error(
                    f"a backup server needs round_robin or least_conn balancing; nginx refuses `backup` "
                    f"with {method}",
                    source.pos(*server.path, "backup"),
                )
            port = _port(server.address)
            if port is not None and not 1 <= port <= 65535:
                diags.error(f"port {port} is out of range (1-65535)", source.pos(*server.path, "address"))
    _check_listen_ports(source, diags)
    _check_metrics_listen(source, diags)
    _check_tls_dependencies(source, diags)
    if config.gateway.include_dir and not config.gateway.include_dir.strip("/"):
        # Every file would be named from the filesystem root, and the bundle's own check could not
        # tell the gateway's paths from a user's absolute ones (found by a hunt: every build failed).
        diags.error(
            f"include_dir {config.gateway.include_dir!r} is the filesystem root: name the directory the bundle "
            "is deployed to (e.g. /etc/nginx/apigen), or leave include_dir out for paths next to nginx.conf",
            source.pos("gateway", "include_dir"),
        )

    for policy in config.policies.values():
        kind = registry.get(policy.kind)
        if kind is None:
            diags.error(f"unknown policy kind {policy.kind!r}", source.pos(*policy.path, "kind"))
            continue
        kind.check(policy, config, source, diags)
