"""The compiler pipeline: load -> validate -> model -> plan -> render (-> verify, on write).

Each stage appends to one :class:`Diagnostics`; the pipeline stops after a stage that found
errors, so the user sees every problem of the earliest broken stage at once. Two checks run past
a broken stage because their inputs are still sound: the names a schema-invalid policy refers to
(unknown policies and upstreams), and the names of an API whose spec failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from apigen.bundle import Bundle
from apigen.diagnostics import CompileError, Diagnostics
from apigen.load.policy_loader import PolicySource, load_policy
from apigen.model.build import build_config, check_names_of_invalid_policy, load_api_specs
from apigen.model.types import GatewayConfig
from apigen.plan.planner import Plan, make_plan
from apigen.render.renderer import render_plan
from apigen.validate.policy_schema import validate_policy_schema
from apigen.validate.semantic import check_semantics


@dataclass
class Compiled:
    source: PolicySource
    config: GatewayConfig
    plan: Plan
    diagnostics: Diagnostics
    bundle: Bundle | None = None


def load_and_check(
    policy_path: Path, diags: Diagnostics, display: str | None = None
) -> tuple[PolicySource, GatewayConfig]:
    """Everything `validate` does: the policy, its specs, the cross-references."""
    source = load_policy(policy_path, diags, display)
    if source is None:
        raise CompileError(diags)
    if not validate_policy_schema(source, diags):
        check_names_of_invalid_policy(source, diags)
        raise CompileError(diags)
    specs = load_api_specs(source, diags)
    # Cross-references are checked even when a spec failed (that API is left out), so that one
    # run reports the spec's errors and the policy's together.
    config = build_config(source, specs, diags)
    check_semantics(config, source, diags)
    diags.raise_if_errors()
    return source, config


def compile_policy(policy_path: Path, *, render: bool = True, display: str | None = None) -> Compiled:
    diags = Diagnostics()
    source, config = load_and_check(policy_path, diags, display)
    plan = make_plan(config, diags, source)
    diags.raise_if_errors()
    result = Compiled(source, config, plan, diags)
    if render:
        result.bundle = render_plan(plan)
    return result
