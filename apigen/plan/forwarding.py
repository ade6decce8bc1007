"""The request headers the gateway itself sends upstream (the client facts): operation locations
and aggregate parts print them (templates/_forwarding.j2). Decided here, so a template only
prints: which lines a headers policy replaces, which identity headers are cleared."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from apigen.model.types import GatewayConfig
from apigen.render.quoting import Arg, bare, quote

# Request headers asking the upstream to treat the request as another method; never sent.
METHOD_OVERRIDE_HEADERS = ("X-HTTP-Method", "X-HTTP-Method-Override", "X-Method-Override")
# Request headers an upstream trusting the gateway as its proxy builds its own URL from (Spring's
# ForwardedHeaderFilter, Symfony, Werkzeug's ProxyFix, Rack: port, path prefix, scheme) or routes
# by (X-Original-URL, X-Rewrite-URL: Symfony before 2.7.49, Zend, IIS); never sent. A client's
# `X-Forwarded-Prefix: //evil.example` reached the upstream, and with a cache the links built from
# it were served to every client of that URI, the header not being in the key (found by a hunt).
FORWARDED_URL_HEADERS = (
    "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Original-URL", "X-Rewrite-URL",
)  # fmt: skip


@dataclass(frozen=True)
class ClientFacts:
    host: bool  # `Host $host` (not for gRPC, nor where a policy sets Host)
    xff_note: bool  # the comment saying a client-sent X-Forwarded-For is replaced
    lines: tuple[tuple[Arg, Arg], ...]  # (header, value) in output order


_XFF = bare("X-Forwarded-For")


@functools.cache
def _constant_facts() -> tuple[tuple[str, Arg, Arg], ...]:
    """The lines after X-Forwarded-For that no input changes, quoted once per process (client_facts
    runs for every operation location: 10,000 times at 10,000 operations)."""
    return (
        ("x-real-ip", bare("X-Real-IP"), Arg("$remote_addr")),
        ("x-forwarded-proto", bare("X-Forwarded-Proto"), Arg("$scheme")),
        ("x-forwarded-host", bare("X-Forwarded-Host"), Arg("$host")),
        ("forwarded", bare("Forwarded"), quote("")),
        ("x-request-id", bare("X-Request-ID"), Arg("$apigen_request_id")),
        # Method overrides: the gateway authorizes (and routes) the request's own method; an
        # upstream framework honouring one of these (Express method-override, Laravel, Symfony,
        # ASP.NET, OData) ran another: a POST to a public operation with
        # `X-HTTP-Method-Override: DELETE` deleted through a protected one (found by a hunt).
        *((name.lower(), bare(name), quote("")) for name in METHOD_OVERRIDE_HEADERS),
        *((name.lower(), bare(name), quote("")) for name in FORWARDED_URL_HEADERS),
    )


def client_facts(
    config: GatewayConfig, *, host: bool, note: bool = True, decided: Iterable[str] = (), cleared: Iterable[str] = ()
) -> ClientFacts:
    """``decided``: lower-case names a policy of the location sends (or removes) itself, whose
    gateway line is left out (nginx would send both); ``cleared``: identity headers sent empty."""
    skip = frozenset(decided)
    gateway = config.gateway
    xff = Arg("$proxy_add_x_forwarded_for" if gateway.trusted_proxies else "$remote_addr")
    facts: list[tuple[str, Arg, Arg]] = [("x-forwarded-for", _XFF, xff), *_constant_facts()]
    if gateway.operation_header:
        facts.append((gateway.operation_header.lower(), quote(gateway.operation_header), quote("${apigen_api}.${apigen_operation}")))
    lines = [(name, value) for key, name, value in facts if key not in skip]
    lines += [(quote(header), quote("")) for header in cleared]
    return ClientFacts(
        host=host and "host" not in skip,
        xff_note=note and not gateway.trusted_proxies and "x-forwarded-for" not in skip,
        lines=tuple(lines),
    )
