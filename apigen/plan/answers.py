"""Headers of an operation's answers that the gateway's own error answers must repeat.

An operation location adds its CORS and response headers (``add_header ... always``), but the
gateway's JSON error answers (401, 413, 429, an intercepted 502, ...) are made by shared named
locations (api_json_errors.conf), and ``add_header`` in a location replaces every inherited one.
So each header a policy kind names (:meth:`PolicyKind.answer_headers`) becomes an http-level map
from the internal location the request was dispatched to (``$apigen_target``, evaluated by the
route location and kept for the request) to the operation's value; the error locations add it,
and nginx leaves out a header whose value is empty. Maps are evaluated only when used, so
successful requests pay nothing; and the value does not depend on directives of the operation
location having run (nginx raises 413 for a Content-Length above the operation's limit before
them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apigen.policies import registry
from apigen.render.quoting import Arg

if TYPE_CHECKING:
    from apigen.plan.planner import ApiPlan


@dataclass(frozen=True)
class AnswerHeaderMap:
    header: str
    var: str  # the map's variable, added by the error locations
    entries: tuple[tuple[str, Arg], ...]  # (internal location URI, value), sorted by URI


def answer_header_maps(api_plans: Iterable[ApiPlan]) -> tuple[AnswerHeaderMap, ...]:
    by_uri: dict[str, list[tuple[str, Arg]]] = {}
    for api in api_plans:
        located = [(loc.op.internal_uri, loc.op.policies) for loc in api.locations]
        if api.unmatched:
            located += [(api.unmatched.uri_404, api.unmatched.policies), (api.unmatched.uri_405, api.unmatched.policies)]
        for uri, uses in located:
            for use in uses:
                kind = registry[use.kind]
                headers = kind.answer_headers(use.plan)
                if not headers:
                    continue
                by_uri.setdefault(uri, []).extend(headers)
                # The CORS preflight of the operation answers its limits' errors (429) too.
                preflight = kind.preflight_uri(use.plan)
                if preflight:
                    by_uri.setdefault(preflight, []).extend(headers)
    # A header a location adds twice (two policies appending one) takes one map per occurrence.
    slots: dict[tuple[str, int], dict[str, Arg]] = {}
    for uri, headers in by_uri.items():
        seen: dict[str, int] = {}
        for header, value in headers:
            n = seen[header] = seen.get(header, -1) + 1
            slots.setdefault((header, n), {})[uri] = value
    return tuple(
        AnswerHeaderMap(header, f"apigen_answer_{i}", tuple(sorted(entries.items())))
        for i, ((header, _), entries) in enumerate(sorted(slots.items()))
    )
