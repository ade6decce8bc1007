"""The gateway IR: frozen dataclasses, one per concept of the policy file and the specs."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apigen.diagnostics import Position
from apigen.load.spec_loader import SpecSet
from apigen.targets import Target

DataPath = tuple[Hashable, ...]

HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")


@dataclass(frozen=True)
class Timeouts:
    connect: str | None = None
    read: str | None = None
    send: str | None = None

    def merged_over(self, base: Timeouts) -> Timeouts:
        """This level's values where set, otherwise the less specific level's."""
        return Timeouts(self.connect or base.connect, self.read or base.read, self.send or base.send)


@dataclass(frozen=True)
class Retries:
    on: tuple[str, ...] = ("error", "timeout")
    tries: int | None = None
    timeout: str | None = None


@dataclass(frozen=True)
class UpstreamServer:
    address: str
    weight: int | None = None
    backup: bool = False
    down: bool = False
    max_conns: int | None = None
    max_fails: int | None = None
    fail_timeout: str | None = None
    slow_start: str | None = None
    path: DataPath = ()


@dataclass(frozen=True)
class UpstreamTls:
    """TLS from the gateway to the backend (``proxy_ssl_*`` / ``grpc_ssl_*``). File fields are as
    written in the policy file; the planner copies them into the bundle."""

    verify: bool = True
    trusted_ca: str | None = None
    server_name: str | None = None  # SNI and the name verified; None: the upstream group's host
    client_certificate: str | None = None
    client_key: str | None = None
    path: DataPath = ()


@dataclass(frozen=True)
class Upstream:
    name: str
    servers: tuple[UpstreamServer, ...]
    balance: str = "round_robin"
    keepalive: int | None = None
    timeouts: Timeouts = Timeouts()
    retries: Retries | None = None
    path: DataPath = ()
    protocol: str = "http"  # http | https | grpc | grpcs
    tls: UpstreamTls | None = None

    @property
    def is_grpc(self) -> bool:
        return self.protocol in ("grpc", "grpcs")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("https", "grpcs")

    @property
    def scheme(self) -> str:
        """The URL scheme of ``proxy_pass``/``grpc_pass``."""
        return self.protocol


@dataclass(frozen=True)
class PolicyDef:
    """A named policy from ``policies:``. ``config`` is the validated mapping for its kind."""

    name: str
    kind: str
    config: Mapping[str, Any]
    path: DataPath = ()


@dataclass(frozen=True)
class Attachment:
    """What one level (gateway, API, tag, operation) says about the operations below it."""

    level: str  # "gateway" | "api" | "tag" | "operation"
    use: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    upstream: str | None = None
    timeouts: Timeouts = Timeouts()
    path: DataPath = ()


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path | query | header | cookie | body | formData
    required: bool = False
    schema: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)  # style, explode, ...
    spec_uri: str = ""  # the document the parameter is written in: its schema's $refs start there


@dataclass(frozen=True)
class Operation:
    api: str
    operation_id: str
    method: str  # upper case
    path: str  # the spec's path key, as written (may carry a `#fragment`, as Box's does)
    route_path: str  # the path requests use: no fragment
    tags: tuple[str, ...] = ()
    security: tuple[Mapping[str, tuple[str, ...]], ...] | None = None  # None: inherit document's
    parameters: tuple[Parameter, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    spec_uri: str = ""
    spec_display: str = ""  # the file of spec_uri, as messages name it
    spec_path: DataPath = ()  # where the operation is in its document
    generated_id: bool = False  # operationId was missing and made up from method + path

    @property
    def key(self) -> str:
        return f"{self.api}.{self.operation_id}"


@dataclass(frozen=True)
class Api:
    name: str
    spec_file: str  # display path
    spec_uri: str
    spec_version: str  # "2.0" | "3.0" | "3.1"
    base_path: str  # "" or "/v1" (no trailing slash)
    strip_base_path: bool
    upstream: str
    attachment: Attachment
    tags: Mapping[str, Attachment]
    operations_attachments: Mapping[str, Attachment]  # selector -> attachment
    operations: tuple[Operation, ...]
    security_schemes: Mapping[str, Any] = field(default_factory=dict, compare=False)
    security: tuple[Mapping[str, tuple[str, ...]], ...] = ()  # the document's default
    path: DataPath = ()
    # The loaded documents, for resolving schemas ($refs) of operations (request validation).
    specs: SpecSet | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Listen:
    port: int
    address: str = ""  # "" = all addresses

    def __str__(self) -> str:
        return f"{self.address}:{self.port}" if self.address else str(self.port)


@dataclass(frozen=True)
class TlsCertificate:
    server_names: tuple[str, ...]
    certificate: str  # as written in the policy file
    key: str
    path: DataPath = ()


@dataclass(frozen=True)
class TlsSettings:
    listen: tuple[Listen, ...]
    certificate: str  # as written in the policy file
    key: str
    path: DataPath = ("gateway", "tls")
    client_certificate: str | None = None  # CA bundle that verifies client certificates (mTLS)
    verify_client: str = "optional"  # on | optional
    verify_depth: int = 1
    certificates: tuple[TlsCertificate, ...] = ()  # more certificates, chosen by SNI
    protocols: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
    ciphers: str | None = None  # None: the modern default (apigen/plan/tls.py)
    hsts: Mapping[str, Any] | None = None
    ocsp_stapling: Mapping[str, Any] | None = None
    reject_unknown_names: bool = False
    redirect_http: bool = False


@dataclass(frozen=True)
class AccessLogSettings:
    path: str = "logs/access.json.log"
    fields: tuple[tuple[str, str], ...] = ()  # (field name, request header) extra fields


@dataclass(frozen=True)
class MetricsSettings:
    listen: Listen
    allow: tuple[str, ...] = ("127.0.0.1",)


@dataclass(frozen=True)
class TracingSettings:
    exporter: str
    service_name: str = "apigen-gateway"
    sample: str = "on"  # on | off | parent


@dataclass(frozen=True)
class Gateway:
    listen: tuple[Listen, ...] = (Listen(8080),)
    server_names: tuple[str, ...] = ("_",)
    worker_processes: str = "auto"
    worker_connections: int = 1024
    client_max_body_size: str = "1m"
    include_dir: str = ""
    tls: TlsSettings | None = None
    http2: bool = False
    http2_cleartext: tuple[Listen, ...] = ()  # plain listeners taking HTTP/2 with prior knowledge
    access_log: AccessLogSettings | None = None
    metrics: MetricsSettings | None = None
    tracing: TracingSettings | None = None
    operation_header: str | None = None
    attachment: Attachment = Attachment("gateway")


@dataclass(frozen=True)
class GatewayConfig:
    """The whole IR: what the policy file and its specs say, checked and typed."""

    target: Target
    gateway: Gateway
    upstreams: Mapping[str, Upstream]
    policies: Mapping[str, PolicyDef]
    apis: tuple[Api, ...]
    policy_file: str
    input_digests: tuple[tuple[str, str], ...]  # (display path, sha256) of every input file

    def api(self, name: str) -> Api:
        return next(a for a in self.apis if a.name == name)


@dataclass(frozen=True)
class SourceRef:
    """A position in an input, resolved lazily (positions in big specs are costly to find)."""

    position: Position
