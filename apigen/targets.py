"""Target capability table: which directives an NGINX OSS or Plus version understands.

The data comes from ``apigen/data/nginx-directives.json``, scanned from the nginx and njs C sources
(``ngx_command_t`` tables) at every release tag, plus the documented NGINX Plus-only names:

- ``oss``: ``{name: {"since": v, "until"?: v}}``; ``since``/``until`` are the first/last
  *scanned* release that defines the name. ``until`` is inclusive (``ssl`` until 1.25.0: 1.25.1
  dropped it). A ``since`` equal to the first scanned release means "there when the scan starts".
- ``njs``: ``{name: {"since": njs_version}}``, compared with the target's njs version.
- ``plus_only``: names only NGINX Plus has (no version data: assumed present on every Plus target).

NGINX Plus releases are named R<n>; each is built on an nginx OSS release, which is what the version
checks use (R33 is based on nginx 1.27.2). ``Target.parse("plus", "R33")`` and
``Target.parse("plus", "1.27.2")`` give the same target.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

Flavor = Literal["oss", "plus"]
Version = tuple[int, ...]

# NGINX Plus release -> nginx OSS base version ("Based on NGINX Open Source x.y.z" in the
# docs.nginx.com release notes).
PLUS_RELEASES: dict[str, Version] = {
    "R29": (1, 23, 4),
    "R30": (1, 25, 1),
    "R31": (1, 25, 3),
    "R32": (1, 25, 5),
    "R33": (1, 27, 2),
    "R34": (1, 27, 4),
    "R35": (1, 29, 0),
}

# njs shipped by Debian bookworm (libnginx-mod-http-js), the oldest release in the table: a target
# that does not name its njs version is only offered what every scanned njs has.
DEFAULT_NJS: Version = (0, 7, 9)

# ngx_otel_module is a separate dynamic module (not in Debian bookworm): for OSS it must be named in
# Target.modules; NGINX Plus packages it since R29.
OTEL_DIRECTIVES = frozenset(
    {
        "otel_exporter",
        "otel_service_name",
        "otel_resource_attr",
        "otel_trace",
        "otel_trace_context",
        "otel_span_name",
        "otel_span_attr",
    }
)
OTEL_OSS_SINCE: Version = (1, 25, 3)
OTEL_PLUS_SINCE: Version = PLUS_RELEASES["R29"]

# Third-party ModSecurity-nginx module (loaded by the bundle's own load_module): any nginx.
MODSECURITY_DIRECTIVES = frozenset(
    {
        "modsecurity",
        "modsecurity_rules",
        "modsecurity_rules_file",
        "modsecurity_rules_remote",
        "modsecurity_transaction_id",
    }
)
# NGINX App Protect WAF: NGINX Plus only (not in the scanned directive table).
APP_PROTECT_DIRECTIVES = frozenset(
    {
        "app_protect_enable",
        "app_protect_policy_file",
        "app_protect_security_log_enable",
        "app_protect_security_log",
        "app_protect_failure_mode_action",
        "app_protect_cookie_seed",
        "app_protect_compressed_requests_action",
        "app_protect_request_buffer_overflow_action",
        "app_protect_user_defined_signatures",
        "app_protect_reconnect_period_seconds",
    }
)

# The directive table starts at nginx 1.22.1: a "since" equal to it only says "1.22.1 or older".
# Older targets are accepted down to OLDEST_OSS, with the directives nginx added between it and the
# scan's start taken from nginx's changelog (1.19.0 to 1.21.6; 1.18.0 has everything of 1.17.x).
# Found by a hunt: a 1.18 target got ssl_reject_handshake (1.19.4), which its nginx refuses.
OLDEST_OSS: Version = (1, 18, 0)
PRE_SCAN_SINCE: dict[str, Version] = {
    "ssl_ocsp": (1, 19, 0),
    "ssl_ocsp_cache": (1, 19, 0),
    "ssl_ocsp_responder": (1, 19, 0),
    "proxy_cookie_flags": (1, 19, 3),
    "userid_flags": (1, 19, 3),
    "ssl_conf_command": (1, 19, 4),
    "proxy_ssl_conf_command": (1, 19, 4),
    "grpc_ssl_conf_command": (1, 19, 4),
    "uwsgi_ssl_conf_command": (1, 19, 4),
    "ssl_reject_handshake": (1, 19, 4),
    "proxy_smtp_auth": (1, 19, 4),
    "keepalive_time": (1, 19, 10),
    "max_errors": (1, 21, 0),
    "mp4_start_key_frame": (1, 21, 4),
    "proxy_half_close": (1, 21, 4),
    "ssl_alpn": (1, 21, 4),
}

# Upstream directives NGINX Plus had long before NGINX OSS took them over: the scan's "since" is
# the OSS release (sticky 1.30.0, least_time 1.31.0), while Plus has had them since nginx 1.5.7
# and 1.7.10 (nginx.org, ngx_http_upstream_module: "available as part of our commercial
# subscription"), older than every Plus release in PLUS_RELEASES. Found by a hunt: every Plus
# target was told "sticky needs nginx >= 1.30.0".
PLUS_BEFORE_OSS = frozenset({"sticky", "least_time"})

_VERSION_RE = re.compile(r"^\d+(\.\d+){0,3}$")
_PLUS_RELEASE_RE = re.compile(r"^[Rr](\d+)$")


def parse_version(text: str) -> Version:
    """Parse "1.25.1" into (1, 25, 1); ValueError on anything else."""
    text = text.strip()
    if not _VERSION_RE.match(text):
        raise ValueError(f"invalid version {text!r}: expected digits and dots, e.g. 1.25.1")
    return tuple(int(part) for part in text.split("."))


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


def _norm(version: Version) -> Version:
    # "1.25" means the first 1.25 release: pad so (1, 25) compares equal to (1, 25, 0).
    return tuple(version) + (0,) * (3 - len(version))


@dataclass(frozen=True)
class Target:
    """What the bundle is compiled for: flavour and nginx (OSS base) version."""

    flavor: Flavor
    version: Version
    njs: Version = DEFAULT_NJS
    # Optional dynamic modules the deployment loads, e.g. {"otel"}.
    modules: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(
        cls,
        flavor: str,
        version: str,
        njs: str | None = None,
        modules: Iterable[str] = (),
    ) -> Target:
        """From config strings: ("oss", "1.22"), ("plus", "R33"), ("plus", "1.27")."""
        fl = flavor.strip().lower()
        if fl not in ("oss", "plus"):
            raise ValueError(f"unknown target flavor {flavor!r}: expected 'oss' or 'plus'")
        release = _PLUS_RELEASE_RE.match(version.strip())
        if release:
            if fl != "plus":
                raise ValueError(f"{version!r} is an NGINX Plus release; the oss target needs 1.x.y")
            name = f"R{int(release.group(1))}"
            if name not in PLUS_RELEASES:
                known = ", ".join(PLUS_RELEASES)
                raise ValueError(f"unknown NGINX Plus release {version!r} (known: {known})")
            ver = PLUS_RELEASES[name]
        else:
            ver = parse_version(version)
        njs_ver = parse_version(njs) if njs else DEFAULT_NJS
        if _norm(ver) < OLDEST_OSS:
            raise ValueError(
                f"nginx {format_version(ver)} is older than {format_version(OLDEST_OSS)}, the oldest release "
                "apigen knows the directives of"
            )
        if _norm(njs_ver) < _norm(DEFAULT_NJS):
            raise ValueError(
                f"njs {format_version(njs_ver)} is older than {format_version(DEFAULT_NJS)}, the oldest release "
                "apigen knows the directives of"
            )
        return cls(
            flavor=fl,  # type: ignore[arg-type]
            version=ver,
            njs=njs_ver,
            modules=frozenset(m.strip().lower() for m in modules),
        )

    @property
    def is_plus(self) -> bool:
        return self.flavor == "plus"

    @property
    def version_str(self) -> str:
        return format_version(self.version)

    def __str__(self) -> str:
        return f"{'NGINX Plus' if self.is_plus else 'nginx'} {self.version_str}"


def at_least(target: Target, since: tuple[int, ...]) -> bool:
    """Is the target's nginx ``since`` (major, minor, patch) or newer? Empty: always."""
    return not since or tuple(target.version) + (0,) * (3 - len(target.version)) >= since


@cache
def directive_table() -> dict[str, Any]:
    """The shipped directive table (parsed once per process)."""
    text = resources.files("apigen").joinpath("data/nginx-directives.json").read_text("utf-8")
    return json.loads(text)


@cache
def _scan_floor(key: str) -> Version:
    # First scanned release: a "since" equal to it carries no version constraint.
    return min(parse_version(v) for v in directive_table()[key])


def _since_ok(since: str, floor_key: str, have: Version, name: str = "") -> bool:
    ver = parse_version(since)
    if ver > _scan_floor(floor_key):
        return _norm(have) >= _norm(ver)
    # There when the scan starts: older targets (OSS down to OLDEST_OSS; njs targets are never
    # older than the scan) have it unless the changelog says it came later.
    return _norm(have) >= PRE_SCAN_SINCE.get(name, ()) if floor_key == "_scanned_oss" else True


def unavailable_reason(target: Target, name: str) -> str | None:
    """None if ``name`` works on ``target``, else a message saying why not."""
    table = directive_table()
    have = f"(target is {target.version_str})"
    if name in OTEL_DIRECTIVES:
        if target.is_plus:
            if _norm(target.version) < _norm(OTEL_PLUS_SINCE):
                return f"{name} needs NGINX Plus R29 or later {have}"
            return None
        if "otel" not in target.modules:
            return f"{name} needs the ngx_otel_module: add 'otel' to the target's modules"
        if _norm(target.version) < _norm(OTEL_OSS_SINCE):
            return f"{name} needs nginx >= {format_version(OTEL_OSS_SINCE)} {have}"
        return None
    if name in MODSECURITY_DIRECTIVES:
        return None
    if name in APP_PROTECT_DIRECTIVES:
        return None if target.is_plus else f"{name} needs NGINX Plus (NGINX App Protect)"
    if target.is_plus and name in PLUS_BEFORE_OSS:
        return None
    if name in table["plus_only"]:
        return None if target.is_plus else f"{name} needs NGINX Plus"
    if name in table["njs"]:
        since = table["njs"][name]["since"]
        if not _since_ok(since, "_scanned_njs", target.njs):
            return f"{name} needs njs >= {since} (target njs is {format_version(target.njs)})"
        return None
    entry = table["oss"].get(name)
    if entry is None:
        return f'unknown directive "{name}"'
    if not _since_ok(entry["since"], "_scanned_oss", target.version, name):
        since = PRE_SCAN_SINCE.get(name)
        return f"{name} needs nginx >= {format_version(since) if since else entry['since']} {have}"
    until = entry.get("until")
    if until and _norm(target.version) > _norm(parse_version(until)):
        return f"{name} is not available after nginx {until} {have}"
    return None


def directive_available(target: Target, name: str) -> bool:
    return unavailable_reason(target, name) is None
