"""Compare two parsed bundles directive by directive, for the injection property test.

crossplane keeps nginx's backslash escapes raw (`\\\\`, `\\n`, `\\t`) while nginx decodes them
(NGINX-FACTS.md), so arguments are decoded here the way nginx's `ngx_conf_read_token` does before
any comparison.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from apigen.plan.routing import ascii_lower
from apigen.render.quoting import DOLLAR_VARIABLE

_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}
DOLLAR = "${" + DOLLAR_VARIABLE + "}"

# Arguments nginx takes literally (a `$` there is just a dollar). Every other argument of every
# other directive is assumed to be evaluated, so a `$` from input must arrive as ${apigen_dollar}.
LITERAL_ARGS: dict[str, Sequence[int] | None] = {  # None: every argument
    "location": None,
    "server_name": None,
    "listen": None,
    "include": None,
    "upstream": None,
    "server": None,
    "proxy_hide_header": None,
    "set_real_ip_from": None,
    "add_header": (0,),
    "proxy_set_header": (0,),
    "set": (0,),
}
# Sizes apigen derives from the input's lengths (a long path needs a bigger map hash bucket).
SIZED_BY_INPUT = {"map_hash_bucket_size", "map_hash_max_size"}
_KEYED_BLOCKS = {"map", "split_clients", "geo"}  # entries: a literal key, then an evaluated value
# Route-map variables are numbered in the order of their keys, and a hostile key sorts elsewhere
# than the placeholder: the numbers are apigen's, never input, so any one matches any other.
_ROUTE_MAP_VAR = re.compile(r"apigen_rg[0-9_]*[0-9f]")
# Route regexes skip the literal prefix their location matched as a byte count, which follows the
# length of the value: apigen's number, never input text.
_PREFIX_SKIP = re.compile(r"\(\?s:\.\{[0-9]+\}\)")


def nginx_decode(arg: str) -> str:
    out, i = [], 0
    while i < len(arg):
        ch = arg[i]
        if ch == "\\" and i + 1 < len(arg) and arg[i + 1] in _ESCAPES:
            out.append(_ESCAPES[arg[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def is_literal(directive: str, index: int, parent: str) -> bool:
    if parent in _KEYED_BLOCKS:
        return False  # the value of a map entry (crossplane gives the key as the "directive")
    if directive in LITERAL_ARGS:
        which = LITERAL_ARGS[directive]
        return which is None or index in which
    return False


class Mismatch(AssertionError):
    pass


def _map_key(key: str) -> str:
    # `map` reads a key that starts with a backslash without it (how `~x`, `default` and `\\x`
    # are written as plain keys; quoting.map_key).
    return key[1:] if key.startswith("\\") else key


def arg_matches(
    base: str,
    hostile: str,
    literal: bool,
    placeholder: str,
    candidates: Sequence[str | tuple[str, str]],
    map_key: bool = False,
) -> bool:
    """Does ``hostile`` carry exactly what ``base`` carries, with the placeholder replaced by one of
    ``candidates``? A candidate is the value's form, or a pair (the placeholder's form, the
    value's) for a transform that rewrites the placeholder too (a byte-by-byte regex). Evaluated
    arguments may not hold a `$` the baseline does not have."""
    b, h = nginx_decode(base), nginx_decode(hostile)
    if map_key:
        b, h = _map_key(b), _map_key(h)
    b, h = _ROUTE_MAP_VAR.sub("apigen_rg#", b), _ROUTE_MAP_VAR.sub("apigen_rg#", h)
    b, h = _PREFIX_SKIP.sub("(?s:.{#})", b), _PREFIX_SKIP.sub("(?s:.{#})", h)
    pairs = [c if isinstance(c, tuple) else (placeholder, c) for c in candidates]
    present = [(p, v) for p, v in pairs if p in b]
    if not present:
        lowered = ascii_lower(placeholder)
        if lowered != placeholder and lowered in b:  # a hash key of the route maps
            return any(h == b.replace(lowered, ascii_lower(v)) for p, v in pairs if p == placeholder)
        return b == h
    if not literal:
        if h.replace(DOLLAR, "").count("$") != b.count("$"):
            return False
        h = h.replace(DOLLAR, "$")
    return any(h == b.replace(p, v) for p, v in present)


def _node_matches(b: dict[str, Any], h: dict[str, Any], parent: str, match_args: Callable[..., bool]) -> bool:
    if parent in _KEYED_BLOCKS:
        if not match_args(b["directive"], h["directive"], True, map_key=parent == "map"):
            return False
    elif b["directive"] != h["directive"]:
        return False
    if len(b["args"]) != len(h["args"]):
        return False
    if b["directive"] in SIZED_BY_INPUT and parent not in _KEYED_BLOCKS:
        return all(a.isdigit() for a in h["args"])
    if ("block" in b) != ("block" in h):
        return False
    for i, (ba, ha) in enumerate(zip(b["args"], h["args"], strict=True)):
        if not match_args(ba, ha, is_literal(b["directive"], i, parent)):
            return False
    if "block" in b:
        try:
            match_blocks(b["block"], h["block"], b["directive"], match_args)
        except Mismatch:
            return False
    return True


def match_blocks(base: list[dict], hostile: list[dict], parent: str, match_args: Callable[..., bool]) -> None:
    """Every baseline directive has exactly one counterpart in ``hostile`` and vice versa (order may
    differ: apigen sorts routes, and a hostile value sorts elsewhere than the placeholder)."""
    if len(base) != len(hostile):
        raise Mismatch(
            f"in {parent or 'main'}: {len(base)} directives expected, {len(hostile)} found: "
            f"{[d['directive'] for d in hostile]}"
        )
    free = list(range(len(hostile)))
    for b in base:
        for pos, j in enumerate(free):
            if _node_matches(b, hostile[j], parent, match_args):
                del free[pos]
                break
        else:
            raise Mismatch(f"in {parent or 'main'}: no counterpart for {b['directive']} {b['args']}")


def compare_payloads(base: dict[str, Any], hostile: dict[str, Any], placeholder: str, candidates: Sequence[str]) -> None:
    bconf, hconf = base["config"], hostile["config"]
    if len(bconf) != len(hconf):
        raise Mismatch(f"{len(bconf)} files expected, {len(hconf)} parsed")

    def match_args(b: str, h: str, literal: bool, map_key: bool = False) -> bool:
        return arg_matches(b, h, literal, placeholder, candidates, map_key)

    for bf, hf in zip(bconf, hconf, strict=True):
        try:
            match_blocks(bf["parsed"], hf["parsed"], "", match_args)
        except Mismatch as exc:
            raise Mismatch(f"{hf['file']}: {exc}") from None
