"""``kind: validation`` - check requests against the operation's OpenAPI description.

The operation's internal location ends in ``js_content`` (content phase: after authentication and
rate limits); the generated njs handler either rejects the request with a JSON list of
violations, or passes it on, untouched, to the operation's forwarding location that holds the
``proxy_pass`` (see ``templates/_locations.j2``). The validator code is generated at build time
from the schemas (:mod:`apigen.validation`); schema keywords it cannot check are diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apigen.load.spec_loader import locate, pointer_to_path
from apigen.policies import BundleFile, PolicyKind, register
from apigen.policies.errors import njs_error_body
from apigen.validation.compile_njs import SchemaCompiler
from apigen.validation.module import MODULE_PATH, OperationEntry, module_source
from apigen.validation.operation import RulesBuilder

if TYPE_CHECKING:
    from apigen.model.types import Api, GatewayConfig, Operation, PolicyDef
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation

MODULE_NAME = "apigen_validation"
CONTENT_HANDLER = f"{MODULE_NAME}.handle"


@dataclass(frozen=True)
class ValidationLocation:
    policy: str
    mode: str  # off | report | enforce
    max_body_size: str
    max_violations: int
    unknown_query: str
    unsupported: str  # error | warn: how unsupported schema keywords are reported
    credential_query: tuple[str, ...]  # query arguments that carry credentials: never "unknown"
    api: Api = field(repr=False, compare=False)
    op: Operation = field(repr=False, compare=False)
    policy_path: tuple = field(repr=False, compare=False, default=())

    @property
    def content_handler(self) -> str | None:
        """The location's content handler (the planner then adds a forwarding location)."""
        return CONTENT_HANDLER if self.mode != "off" else None


@dataclass(frozen=True)
class ValidationHttp:
    module_name: str
    module_path: str  # in the bundle
    import_path: str  # as js_import names it (relative to nginx's prefix, or in include_dir)
    module_text: str


def _query_credential(policy: PolicyDef | None) -> str | None:
    cfg = policy.config if policy is not None else {}
    if policy is not None and policy.kind == "api_key" and cfg.get("in") == "query":
        return str(cfg["name"])
    token = cfg.get("token") if policy is not None and policy.kind == "jwt" else None
    return str(token["name"]) if isinstance(token, dict) and token.get("from") == "query" else None


def credential_query_names(eff: EffectiveOperation, api: Api, config: GatewayConfig) -> tuple[str, ...]:
    """The query arguments that carry the operation's credentials: those of the spec's `apiKey`
    schemes `in: query` it requires (OpenAPI never lists them under `parameters`), and those the
    authentication policies on it read, directly or as the policy an `openapi_security` maps a
    required scheme to. `unknown_query_params: reject` refused them: every authenticated request
    got 400 (found by a hunt)."""
    names: set[str | None] = set()
    requirements = eff.op.security if eff.op.security is not None else api.security
    schemes = {name for requirement in requirements or () for name in requirement}
    for scheme_name in schemes:
        scheme = api.security_schemes.get(scheme_name)
        if isinstance(scheme, dict) and scheme.get("type") == "apiKey" and scheme.get("in") == "query":
            names.add(str(scheme.get("name", "")))
    for applied in eff.policies:
        names.add(_query_credential(applied.policy))
        if applied.policy.kind == "openapi_security":
            mapping = applied.policy.config.get("schemes") or {}
            names.update(_query_credential(config.policies.get(str(mapping.get(s)))) for s in schemes)
    return tuple(sorted(n for n in names if n))


class Validation(PolicyKind):
    name = "validation"
    order = 900  # its directives are only body buffering; it runs in the content phase anyway
    requires_njs = True

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        c = policy.config
        return ValidationLocation(
            policy=policy.name,
            mode=str(c.get("mode", "enforce")),
            max_body_size=str(c.get("max_body_size", "1m")),
            max_violations=int(c.get("max_violations", 10)),
            unknown_query=str(c.get("unknown_query_params", "allow")),
            unsupported=str(c.get("unsupported_keywords", "error")),
            credential_query=credential_query_names(eff, api, config),
            api=api,
            op=eff.op,
            policy_path=policy.path,
        )

    def max_body_size(self, policy: PolicyDef) -> str | None:
        # The validator reads the whole body: it always has a limit (1m unless set), unless off.
        if policy.config.get("mode") == "off":
            return None
        return str(policy.config.get("max_body_size", "1m"))

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        compiler = SchemaCompiler(resolve=lambda ref, uri: (None, uri, ""))
        builder = RulesBuilder(compiler)
        entries = []
        reported = 0
        for inst in sorted(instances, key=lambda i: i.op.key):
            if inst.mode == "off":
                continue
            rules = builder.build(inst.api, inst.op)
            entries.append(
                OperationEntry(rules, inst.mode, inst.max_violations, inst.unknown_query, inst.credential_query)
            )
            if assets is not None:  # the collector carries the build's diagnostics
                for item in compiler.unsupported[reported:]:
                    self._report(item, inst, assets)
            reported = len(compiler.unsupported)
        include_dir = config.gateway.include_dir.rstrip("/")
        import_path = f"{include_dir}/{MODULE_PATH}" if include_dir else MODULE_PATH
        return ValidationHttp(MODULE_NAME, MODULE_PATH, import_path, module_source(compiler, entries, njs_error_body(config)))

    @staticmethod
    def _report(item: Any, inst: ValidationLocation, assets: AssetCollector) -> None:
        specs = inst.api.specs
        display = specs.display(item.uri) if specs is not None else item.uri
        where = locate(item.uri, pointer_to_path(item.pointer), display)
        message = (
            f"request validation of {inst.op.key} cannot check {item.keyword} "
            f"(policy {inst.policy!r}); set `unsupported_keywords: warn` to accept it unchecked"
        )
        if inst.unsupported == "warn" or item.always_warning:
            assets.diags.warning(message.split(" (policy")[0] + " (not checked)", where)
        else:
            assets.diags.error(message, where)

    def bundle_files(self, http_plan: Any, config: GatewayConfig, source_dir: Path) -> list[BundleFile]:
        return [BundleFile(http_plan.module_path, http_plan.module_text)]


register(Validation())
