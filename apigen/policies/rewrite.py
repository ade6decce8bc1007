"""``kind: rewrite`` - the path sent upstream: a replaced prefix, or a template of the operation's
path parameters (``/v1/pets/{id}`` -> ``/internal/animals/{id}``).

The route's regex location captures the parameters by name (``apigen_p<n>``, see
:func:`apigen.plan.paths.capture_variable`); named captures survive the ``rewrite ... last`` to
the operation's location. There ``rewrite ^ <new path> break;`` sets the URI and ``proxy_pass``
gets no URI part, so nginx sends the new path re-escaped (a ``%3F`` in a parameter stays
``%3F``, never a ``?``) followed by the client's query string.
(The base-path strip of an API is ``apis[].strip_base_path``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.plan.paths import PathTemplate, capture_variable, join_base, parse_segment
from apigen.policies import PolicyKind, register
from apigen.render.quoting import Arg, quote

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, Operation, PolicyDef
    from apigen.plan.effective import EffectiveOperation


QUESTION_VARIABLE = "apigen_question"  # a literal "?" (geo, see the partial)


@dataclass(frozen=True)
class RewritePlan:
    replacement: Arg  # the quoted rewrite replacement, captures as ${apigen_pN}
    target: str  # the new path template, for comments
    captures: bool  # does the route regex need named captures?
    question: bool = False  # does the replacement use $apigen_question (a literal "?")?
    params: tuple[str, ...] = ()  # the capture variables the replacement uses, in order


def target_template(cfg: Any, full_path: str) -> str | None:
    """The upstream path template for an operation at ``full_path`` (base path included), or
    None when the policy does not change it (a prefix that does not apply)."""
    if "template" in cfg:
        return str(cfg["template"])
    prefix = cfg["replace_prefix"]
    old, new = prefix["from"].rstrip("/"), prefix["to"].rstrip("/")
    if full_path == old or full_path.startswith(old + "/"):
        return (new + full_path[len(old) :]) or "/"
    return None


def _replacement(target: str, params: tuple[str, ...]) -> tuple[Arg, tuple[str, ...], bool]:
    """The quoted replacement, the route's named captures it uses, and whether it uses the
    literal-"?" variable."""
    out, captures, question = [], [], False
    for i, text in enumerate(target.split("/")):
        if i:
            out.append("/")
        for kind, value in parse_segment(text).parts:
            if kind == "lit":
                # A literal `?` (a decoded `%3F` of the spec path) would start the arguments of
                # the rewrite: it goes in through a variable, and nginx re-escapes it upstream.
                out.append(str(quote(value, variables=True))[1:-1].replace("?", "${" + QUESTION_VARIABLE + "}"))
                question = question or "?" in value
            else:
                var = capture_variable(params.index(value) + 1)
                out.append("${" + var + "}")
                if var not in captures:
                    captures.append(var)
    return Arg('"' + "".join(out) + '"'), tuple(captures), question


def _ops_using(policy: PolicyDef, config: GatewayConfig) -> list[tuple[Api, Operation]]:
    from apigen.plan.effective import resolve_operation

    return [
        (api, op)
        for api in config.apis
        for op in api.operations
        if any(p.policy.name == policy.name for p in resolve_operation(api, op, config).policies)
    ]


class Rewrite(PolicyKind):
    name = "rewrite"
    proxy_only = True
    order = 30

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        if "template" not in policy.config:
            using = _ops_using(policy, config)
            full = [join_base(api.base_path, op.route_path) for api, op in using]
            if using and all(target_template(policy.config, f) is None for f in full):
                prefix = policy.config["replace_prefix"]["from"]
                diags.warning(
                    f"replace_prefix from {prefix!r} matches none of the {len(using)} operation(s) the "
                    "policy is attached to: it changes nothing",
                    source.pos(*policy.path, "replace_prefix", "from"),
                    hint=f"paths as the gateway sees them include the base path, e.g. {full[0]}",
                    code="rewrite-no-match",
                )
            return
        wanted = PathTemplate(policy.config["template"]).param_names
        for api, op in _ops_using(policy, config):
            have = PathTemplate(join_base(api.base_path, op.route_path)).param_names
            missing = [p for p in wanted if p not in have]
            if missing:
                diags.error(
                    f"rewrite template uses {', '.join('{' + m + '}' for m in missing)}, which "
                    f"{op.method} {op.path} ({op.operation_id}) does not have",
                    source.pos(*policy.path, "template"),
                    hint=f"its path parameters: {', '.join(have) or 'none'}",
                )

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        full = join_base(api.base_path, eff.op.route_path)
        target = target_template(policy.config, full)
        if target is None:
            return None
        params = PathTemplate(full).param_names
        if any(p not in params for p in PathTemplate(target).param_names):
            return None  # reported by check()
        replacement, captures, question = _replacement(target, params)
        return RewritePlan(replacement, target, bool(captures), question, captures)

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: Any) -> Any:
        # Does any replacement need the literal-"?" variable?
        return any(p is not None and p.question for p in instances)

    def upstream_uri(self, plan: Any) -> str | None:
        return "" if plan is not None else None

    def needs_path_captures(self, plan: Any) -> bool:
        return plan is not None and plan.captures

    def decoded_path_captures(self, plan: Any) -> tuple[str, ...]:
        # nginx re-escapes the rewritten path, but not ";": a parameter sent as "a%3Bb" went
        # upstream as "a;b", which servlet containers read as "a" with a path parameter (found
        # by a hunt: /v2/pets/mine%3Bx, public showPetById for the gateway, reached the
        # upstream as /animals/mine;x, the path of listMyPets for Tomcat or Spring).
        return plan.params if plan is not None else ()


register(Rewrite())
