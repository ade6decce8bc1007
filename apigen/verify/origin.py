"""Map a place in a generated bundle back to the policy-file line that produced it.

The bundle's structure says where each block comes from: ``upstream NAME`` from
``upstreams.NAME``, an operation's internal location ``@apigen_op/<api>/<operationId>`` from the
API (or the operation's own ``operations:`` entry), the server block from ``gateway``.
"""

from __future__ import annotations

from typing import Any

from apigen.diagnostics import Position
from apigen.plan.planner import INTERNAL_OP_PREFIX
from apigen.verify.parse import DirectiveRef, iter_directives

OP_LOCATION = "location " + INTERNAL_OP_PREFIX


def directive_at(payload: dict[str, Any], file: str, line: int) -> DirectiveRef | None:
    for ref in iter_directives(payload):
        if ref.file == file and ref.line == line:
            return ref
    return None


def policy_position(ref: DirectiveRef, plan: Any, source: Any) -> Position | None:
    """The policy-file position ``ref`` comes from, or None when it is the gateway's own."""
    from apigen.validate.semantic import select_operations

    labels = (*ref.context, " ".join([ref.directive, *ref.args]))
    for label in labels:
        if label.startswith("upstream "):
            name = label.removeprefix("upstream ")
            if name in plan.config.upstreams:
                return source.pos("upstreams", name, key=True)
        if label.startswith(OP_LOCATION):
            uri = label.removeprefix("location ")
            for api_plan in plan.apis:
                for op in api_plan.operations:
                    if op.internal_uri != uri:
                        continue
                    api = plan.config.api(api_plan.name)
                    for selector in sorted(api.operations_attachments):
                        if op.effective.op in select_operations(api, selector):
                            return source.pos(*api.operations_attachments[selector].path, key=True)
                    return source.pos(*api.path, "name")
    if any(label.startswith("server") for label in ref.context):
        return source.pos("gateway", key=True)
    return None
