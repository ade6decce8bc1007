"""The headers of the gateway's JSON error answers that policy kinds ask for, one line each.

Kinds name ``(status, header, variable)`` (:meth:`PolicyKind.error_headers`). Two kinds may name
the same header for the same status: a rate limit's ``Retry-After`` and, where ``errors.intercept``
replaces an upstream's 429 or 503, the upstream's own ``Retry-After``. Both as ``add_header``
lines would send the header twice when both are set, so such a header becomes one variable that
holds the first non-empty of them: the upstream's answer first (it is what the client is waiting
for), then the others by name. nginx sends no header whose value is empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FallbackMap:
    """``map $source $var { "" $fallback; default $source; }``"""

    source: str
    var: str
    fallback: str


def _preference(variable: str) -> tuple[bool, str]:
    return (not variable.startswith("upstream_http_"), variable)


def merge_error_headers(
    headers: Iterable[tuple[int, str, str]],
) -> tuple[tuple[tuple[int, str, str], ...], tuple[FallbackMap, ...]]:
    """One ``(status, header, variable)`` per status and header (names compared ignoring case),
    and the maps that make the variables of headers named more than once."""
    grouped: dict[tuple[int, str], tuple[str, set[str]]] = {}
    for status, header, variable in headers:
        _, variables = grouped.setdefault((status, header.lower()), (header, set()))
        variables.add(variable)
    chains: dict[tuple[str, ...], str] = {}
    maps: list[FallbackMap] = []

    def chain_var(chain: tuple[str, ...]) -> str:
        if len(chain) == 1:
            return chain[0]
        if chain not in chains:
            rest = chain_var(chain[1:])
            chains[chain] = f"apigen_error_header_{len(chains)}"
            maps.append(FallbackMap(chain[0], chains[chain], rest))
        return chains[chain]

    out = []
    for (status, _), (header, variables) in sorted(grouped.items()):
        out.append((status, header, chain_var(tuple(sorted(variables, key=_preference)))))
    return tuple(out), tuple(maps)
