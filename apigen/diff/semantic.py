"""Semantic diff of two parsed bundles: directives added, removed or changed, by context path.

Formatting, comments, file layout (which file a directive sits in, ``include`` lines) and the order
of directives whose order nginx ignores do not count. Order does count for:

* the rewrite-module directives (``set``, ``rewrite``, ``return``, ``if``, ``break``): run in order;
* regex locations (``location ~``/``~*``) in one parent: the first match wins;
* ``split_clients`` entries (they allocate percentage ranges in order) and regex keys of ``map``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apigen.verify.parse import block_label, parse_bundle

ORDERED = frozenset({"set", "rewrite", "return", "if", "break"})

Stmt = tuple[str, tuple[str, ...]]  # (directive, args)
Context = tuple[str, ...]


@dataclass
class BlockView:
    """One block's statements (blocks excluded: they are contexts of their own)."""

    unordered: Counter = field(default_factory=Counter)
    ordered: list[Stmt] = field(default_factory=list)
    regex_locations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    change: str  # added | removed | changed | reordered
    context: Context
    directive: str
    old: str = ""
    new: str = ""

    @property
    def where(self) -> str:
        return " > ".join((*_display(self.context), self.directive))

    def as_dict(self) -> dict[str, str]:
        return {
            "change": self.change,
            "context": " > ".join(_display(self.context)),
            "directive": self.directive,
            "old": self.old,
            "new": self.new,
        }

    def __str__(self) -> str:
        mark = {"added": "+", "removed": "-", "changed": "~", "reordered": "~"}[self.change]
        if self.change == "changed":
            return f"{mark} {self.where}: {self.old} -> {self.new}"
        if self.change == "reordered":
            return f"{mark} {self.where}: order changed ({self.old} -> {self.new})"
        value = self.new if self.change == "added" else self.old
        return f"{mark} {self.where}{' ' + value if value else ''}"


def _display(context: Context) -> Context:
    return context[1:] if context[:1] == ("http",) else context


def fmt_args(args: tuple[str, ...]) -> str:
    return " ".join(a if a and not any(c.isspace() for c in a) and '"' not in a else _quote(a) for a in args)


def _quote(arg: str) -> str:
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_regex_location(stmt: Mapping[str, Any]) -> bool:
    args = stmt.get("args") or []
    return stmt["directive"] == "location" and bool(args) and args[0] in ("~", "~*")


def _ordered_in(context: Context, directive: str) -> bool:
    parent = context[-1] if context else ""
    if parent.startswith("split_clients "):
        return True
    if parent.startswith("map "):
        return directive.startswith("~")
    return directive in ORDERED


def view_payload(payload: Mapping[str, Any]) -> dict[Context, BlockView]:
    """Every block of the configuration (the main file's top level is ``()``), includes inlined."""
    configs = payload.get("config") or []
    views: dict[Context, BlockView] = {}
    if not configs:
        return views

    def walk(stmts: list[Mapping[str, Any]], context: Context, active: frozenset[int]) -> None:
        view = views.setdefault(context, BlockView())
        for stmt in stmts:
            name = stmt["directive"]
            if name == "include":
                for inc in stmt.get("includes") or ():
                    # Secret includes (the TLS keys by name) are never shown: their file is
                    # compared by digest with the other secrets.
                    if inc not in active and Path(configs[inc]["file"]).parent.name != "secrets":
                        walk(configs[inc]["parsed"], context, active | {inc})
                continue
            if "block" in stmt:
                label = block_label(stmt)
                if _is_regex_location(stmt):
                    view.regex_locations.append(label)
                if name == "if":  # runs in order with set/rewrite/return
                    view.ordered.append((name, tuple(stmt.get("args") or ())))
                walk(stmt["block"], (*context, label), active)
                continue
            entry = (name, tuple(stmt.get("args") or ()))
            if _ordered_in(context, name):
                view.ordered.append(entry)
            else:
                view.unordered[entry] += 1

    walk(configs[0]["parsed"], (), frozenset({0}))
    return views


def _counter_changes(context: Context, old: Counter, new: Counter) -> Iterator[Change]:
    removed, added = old - new, new - old
    names = sorted({n for n, _ in removed} | {n for n, _ in added})
    for name in names:
        gone = sorted(a for (n, a), c in removed.items() if n == name for _ in range(c))
        came = sorted(a for (n, a), c in added.items() if n == name for _ in range(c))
        if len(gone) == 1 and len(came) == 1:
            yield Change("changed", context, name, fmt_args(gone[0]), fmt_args(came[0]))
            continue
        for args in gone:
            yield Change("removed", context, name, old=fmt_args(args))
        for args in came:
            yield Change("added", context, name, new=fmt_args(args))


def _match_renamed_servers(old: dict[Context, BlockView], new: dict[Context, BlockView]) -> dict[Context, BlockView]:
    """A server is labelled by its first server_name: renamed, it would show as one server removed
    and another added, hiding every change inside it (found by a hunt). Where a block holds exactly
    one server only the old side has and one only the new side has, the new one takes the old
    label, so its changes (server_name included) are listed."""

    def lone(views: dict[Context, BlockView], other: dict[Context, BlockView]) -> dict[Context, Context]:
        out: dict[Context, list[Context]] = {}
        for c in views:
            if c and c[-1].startswith("server ") and c not in other and c[:-1] in other:
                out.setdefault(c[:-1], []).append(c)
        return {parent: cs[0] for parent, cs in out.items() if len(cs) == 1}

    gone, came = lone(old, new), lone(new, old)
    renames = {came[p]: gone[p] for p in gone.keys() & came.keys()}
    if not renames:
        return new
    out: dict[Context, BlockView] = {}
    for context, view in new.items():
        for was_new, was_old in renames.items():
            if context[: len(was_new)] == was_new:
                context = was_old + context[len(was_new) :]
                break
        out[context] = view
    return out


def diff_views(old: dict[Context, BlockView], new: dict[Context, BlockView]) -> list[Change]:
    new = _match_renamed_servers(old, new)
    changes: list[Change] = []
    for context in sorted(set(old) | set(new)):
        parent = context[:-1]
        if context not in new:
            if parent in new or not parent:  # report the outermost removed block only
                changes.append(Change("removed", parent, context[-1]))
            continue
        if context not in old:
            if parent in old or not parent:
                changes.append(Change("added", parent, context[-1]))
            continue
        a, b = old[context], new[context]
        changes.extend(_counter_changes(context, a.unordered, b.unordered))
        if a.ordered != b.ordered:
            ca, cb = Counter(a.ordered), Counter(b.ordered)
            if ca != cb:
                # An added or removed `if` block is reported as a block already.
                blocks = [k for k in ca | cb if k[0] == "if"]
                for k in blocks:
                    ca.pop(k, None), cb.pop(k, None)
                changes.extend(_counter_changes(context, ca, cb))
            else:
                names = sorted({n for n, _ in a.ordered})
                changes.append(
                    Change("reordered", context, ", ".join(names), _seq(a.ordered), _seq(b.ordered))
                )
        ra = [r for r in a.regex_locations if r in b.regex_locations]
        rb = [r for r in b.regex_locations if r in a.regex_locations]
        if ra != rb:  # same regex locations in a different order: matching changes
            changes.append(Change("reordered", context, "location ~", " | ".join(ra), " | ".join(rb)))
    return changes


def _seq(stmts: list[Stmt]) -> str:
    return "; ".join(f"{n} {fmt_args(a)}".strip() for n, a in stmts)


def semantic_diff(old_dir: Path, new_dir: Path) -> tuple[list[Change], list[str]]:
    """Changes from ``old_dir`` to ``new_dir``, and parse errors (``side: message``) if any."""
    errors = []
    views = []
    for side, d in (("old", old_dir), ("new", new_dir)):
        parsed = parse_bundle(d)
        errors += [f"{side}: {e}" for e in parsed.errors]
        views.append(view_payload(parsed.payload))
    return diff_views(views[0], views[1]), errors
