"""``kind: split`` - canary, blue-green and A/B: weighted assignment of requests to upstreams.

``split_clients`` hashes the chosen key (the request id spreads requests; a client address,
cookie, header or JWT subject keeps a client on one variant) onto the weights. Overrides come
first: each is a ``map`` on a header, cookie or query argument whose default is the next
override's variable, ending at the split - so the first matching override wins. The operation
then proxies to ``http://$apigen_split_<policy>`` (an upstream group name).

Blue-green is a split of 100/0: writing the weights on one line (``weights: {blue: 100,
green: 0}``) makes the switch a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigen.plan.paths import exact_regex
from apigen.policies import PolicyKind, register
from apigen.policies.keys import (
    invalid_source_reason,
    key_expression,
    key_sources,
    required_variable,
    target_source_reason,
    variable_name,
)
from apigen.policies.rate_limit import defined_variables, var_stem
from apigen.render.quoting import Arg

if TYPE_CHECKING:
    from apigen.diagnostics import Diagnostics
    from apigen.load.policy_loader import PolicySource
    from apigen.model.types import Api, GatewayConfig, PolicyDef
    from apigen.plan.assets import AssetCollector
    from apigen.plan.effective import EffectiveOperation


@dataclass(frozen=True)
class Override:
    source_var: str  # variable read (http_x_canary, cookie_canary, arg_variant)
    value: str
    # The value as a case-sensitive exact regex: nginx compares literal map keys ignoring case
    # (found by a hunt: `X-Green: YES` pinned like `yes`).
    regex: str
    upstream: str
    var: str  # this link's result
    default_var: str  # the next link (or the split)


@dataclass(frozen=True)
class SplitPlan:
    policy: str
    key: str  # nginx expression hashed by split_clients
    pick_var: str
    buckets: tuple[tuple[Arg, str], ...]  # ("90%", upstream), the last one "*"
    overrides: tuple[Override, ...]
    result_var: str


def _weight_token(weight: float) -> Arg:
    """``90`` -> ``90%``, ``12.5`` -> ``12.5%`` (split_clients takes up to two decimals)."""
    return Arg(f"{weight:.2f}".rstrip("0").rstrip(".") + "%")


def _override_source(o: dict[str, Any]) -> str:
    for kind in ("header", "cookie", "query"):
        if kind in o:
            return f"{kind}:{o[kind]}"
    raise ValueError(o)


class Split(PolicyKind):
    proxy_only = True
    name = "split"
    # $apigen_variant: the chosen variant (an upstream name), for the access log.
    provides = frozenset({"apigen_variant"})
    order = 5

    def check(self, policy: PolicyDef, config: GatewayConfig, source: PolicySource, diags: Diagnostics) -> None:
        cfg = policy.config
        weights: dict[str, float] = cfg.get("weights") or {}
        total = sum(weights.values())
        # 12 significant digits, the precision of the checks below: `:g` (6) printed 99.99999 as
        # "weight 100 ... has more than two decimals" (found by a hunt).
        if abs(total - 100) > 1e-9:
            diags.error(
                f"split weights add up to {total:.12g}, not 100",
                source.pos(*policy.path, "weights"),
                hint="blue-green: {blue: 100, green: 0}; canary: {stable: 95, canary: 5}",
            )
        for name, weight in weights.items():
            if name not in config.upstreams:
                diags.error(f"unknown upstream {name!r}", source.pos(*policy.path, "weights", name, key=True))
            elif abs(weight * 100 - round(weight * 100)) > 1e-6:
                # split_clients takes percentages with two decimals: 0.001 would become 0%.
                diags.error(
                    f"weight {weight:.12g} of {name!r} has more than two decimals (nginx's split_clients "
                    "takes percentages to 0.01)",
                    source.pos(*policy.path, "weights", name),
                )
        key = cfg.get("key", "request_id")
        reason = invalid_source_reason(key) or target_source_reason(key, config.target)
        needs = required_variable(key, config.target)
        if reason:
            diags.error(reason, source.pos(*policy.path, "key"))
        elif needs and needs not in defined_variables(config):
            diags.error(
                f"key {key!r} needs ${needs}, which no policy kind in this file defines",
                source.pos(*policy.path, "key"),
            )
        for i, o in enumerate(cfg.get("overrides") or ()):
            if o["upstream"] not in weights:
                diags.error(
                    f"override upstream {o['upstream']!r} is not one of the split's variants",
                    source.pos(*policy.path, "overrides", i, "upstream"),
                )
            reason = invalid_source_reason(_override_source(o))
            if reason:
                diags.error(reason, source.pos(*policy.path, "overrides", i))

    def plan_location(self, policy: PolicyDef, eff: EffectiveOperation, api: Api, config: GatewayConfig) -> Any:
        cfg = policy.config
        stem = var_stem("split", policy.name)
        live = [(name, float(w)) for name, w in sorted(cfg["weights"].items()) if w > 0]
        # The last variant takes the rest ("*"), so rounding never leaves requests unassigned.
        buckets = [(_weight_token(w), name) for name, w in live[:-1]] + [(Arg("*"), live[-1][0])]
        overrides_cfg = list(cfg.get("overrides") or ())
        links = []
        for i, o in enumerate(overrides_cfg):
            links.append(
                Override(
                    source_var=variable_name(_override_source(o), config.target),
                    value=str(o["value"]),
                    regex=exact_regex(str(o["value"])),
                    upstream=o["upstream"],
                    var=stem if i == 0 else f"{stem}_o{i}",
                    default_var=f"{stem}_o{i + 1}" if i + 1 < len(overrides_cfg) else f"{stem}_pick",
                )
            )
        return SplitPlan(
            policy=policy.name,
            key=key_expression(key_sources(cfg.get("key"), "request_id"), config.target),
            pick_var=f"{stem}_pick",
            buckets=tuple(buckets),
            overrides=tuple(links),
            result_var=stem if links else f"{stem}_pick",
        )

    def plan_http(self, instances: list[Any], config: GatewayConfig, assets: AssetCollector | None) -> Any:
        by_policy = {p.policy: p for p in instances}
        return tuple(by_policy[name] for name in sorted(by_policy))

    def upstream_variable(self, plan: Any) -> str | None:
        return plan.result_var


register(Split())
