"""TLS: termination at the gateway (certificates per server name, protocols, HSTS, OCSP, unknown
names, HTTP->HTTPS) and TLS towards upstreams (``proxy_ssl_*`` / ``grpc_ssl_*``).

Certificate and key files go through the :class:`AssetCollector` (keys are secrets, mode 0600).
"""

from __future__ import annotations

from dataclasses import dataclass

from apigen.diagnostics import Diagnostics
from apigen.load.policy_loader import PolicySource
from apigen.model.types import GatewayConfig, Listen, TlsSettings, Upstream
from apigen.plan.assets import AssetCollector
from apigen.targets import unavailable_reason

REJECT_HANDSHAKE_SINCE = (1, 19, 4)

# Mozilla "intermediate" cipher list (TLS 1.2; TLS 1.3 suites are not configured by ssl_ciphers).
MODERN_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
)


@dataclass(frozen=True)
class SniCertificate:
    server_name: str  # a `map ... hostnames` key: `api.example.com` or `.example.com`
    certificate: str  # bundle paths
    key: str


@dataclass(frozen=True)
class TlsPlan:
    listen: tuple[Listen, ...]
    default_certificate: str  # bundle paths of the top-level certificate and key
    default_key: str
    sni: tuple[SniCertificate, ...]  # non-empty: certificates chosen per name by a map
    protocols: tuple[str, ...]
    ciphers: str
    hsts: str | None  # Strict-Transport-Security value
    ocsp_trusted: str | None  # bundle path; None with ocsp on = no verification chain given
    ocsp: bool
    resolver: str | None
    reject_unknown: bool
    redirect_http: bool
    redirect_port: int


@dataclass(frozen=True)
class UpstreamTlsPlan:
    verify: bool
    trusted_ca: str | None
    server_name: str
    certificate: str | None
    key: str | None


def _hsts(settings: TlsSettings) -> str | None:
    if settings.hsts is None:
        return None
    value = f"max-age={int(settings.hsts.get('max_age', 31536000))}"
    if settings.hsts.get("include_subdomains"):
        value += "; includeSubDomains"
    if settings.hsts.get("preload"):
        value += "; preload"
    return value


def plan_tls(config: GatewayConfig, assets: AssetCollector, source: PolicySource, diags: Diagnostics) -> TlsPlan | None:
    tls = config.gateway.tls
    if tls is None:
        return None
    cert = assets.file(tls.certificate, (*tls.path, "certificate"), directory="tls", secret=False)
    key = assets.file(tls.key, (*tls.path, "key"), directory="secrets", secret=True)
    sni: list[SniCertificate] = []
    for extra in tls.certificates:
        c = assets.file(extra.certificate, (*extra.path, "certificate"), directory="tls", secret=False)
        k = assets.file(extra.key, (*extra.path, "key"), directory="secrets", secret=True)
        if c and k:
            for name in extra.server_names:
                sni.append(SniCertificate(name[1:] if name.startswith("*.") else name, c.bundle_path, k.bundle_path))
    ocsp = tls.ocsp_stapling is not None
    ocsp_trusted = None
    if ocsp:
        assert tls.ocsp_stapling is not None
        if tls.certificates:
            diags.error(
                "ocsp_stapling needs one certificate per server: nginx does not staple certificates chosen per name",
                source.pos(*tls.path, "ocsp_stapling"),
            )
        if "trusted_ca" in tls.ocsp_stapling:
            ca = assets.file(
                tls.ocsp_stapling["trusted_ca"],
                (*tls.path, "ocsp_stapling", "trusted_ca"),
                directory="tls",
                secret=False,
            )
            ocsp_trusted = ca.bundle_path if ca else None
    if tls.reject_unknown_names:
        # The directive table starts at 1.22.1, so its "since" cannot tell 1.19.4 from older.
        reason = unavailable_reason(config.target, "ssl_reject_handshake")
        if reason is None and tuple(config.target.version) + (0,) * 3 < REJECT_HANDSHAKE_SINCE:
            reason = f"ssl_reject_handshake needs nginx >= 1.19.4 (target is {config.target.version_str})"
        if reason:
            diags.error(f"reject_unknown_names: {reason}", source.pos(*tls.path, "reject_unknown_names"))
        if "_" in config.gateway.server_names:
            diags.error(
                "reject_unknown_names needs explicit gateway.server_name values (with `_` every name is unknown)",
                source.pos(*tls.path, "reject_unknown_names"),
            )
    names_seen = {s.server_name for s in sni}
    if len(names_seen) != len(sni):
        diags.error("a server name appears under two certificates", source.pos(*tls.path, "certificates"))
    return (
        TlsPlan(
            listen=tls.listen,
            default_certificate=cert.bundle_path if cert else "",
            default_key=key.bundle_path if key else "",
            sni=tuple(sorted(sni, key=lambda s: s.server_name)),
            protocols=tls.protocols,
            ciphers=tls.ciphers or MODERN_CIPHERS,
            hsts=_hsts(tls),
            ocsp_trusted=ocsp_trusted,
            ocsp=ocsp,
            resolver=(tls.ocsp_stapling or {}).get("resolver"),
            reject_unknown=tls.reject_unknown_names,
            redirect_http=tls.redirect_http,
            redirect_port=tls.listen[0].port,
        )
        if cert and key
        else None
    )


def plan_upstream_tls(
    upstream: Upstream, assets: AssetCollector, source: PolicySource, diags: Diagnostics
) -> UpstreamTlsPlan | None:
    if not upstream.uses_tls or upstream.tls is None:
        return None
    t = upstream.tls
    ca = cert = key = None
    if t.trusted_ca:
        a = assets.file(t.trusted_ca, (*t.path, "trusted_ca"), directory="tls", secret=False)
        ca = a.bundle_path if a else None
    elif t.verify:
        diags.error(
            "verify needs trusted_ca (the CA bundle the backend's certificate chains to), or set verify: false",
            source.pos(*upstream.path, "protocol"),
        )
    if t.client_certificate and t.client_key:
        c = assets.file(t.client_certificate, (*t.path, "client_certificate"), directory="tls", secret=False)
        k = assets.file(t.client_key, (*t.path, "client_key"), directory="secrets", secret=True)
        cert, key = (c.bundle_path if c else None), (k.bundle_path if k else None)
    host = upstream.servers[0].address.rsplit(":", 1)[0] if upstream.servers else upstream.name
    return UpstreamTlsPlan(t.verify, ca, t.server_name or host, cert, key)
