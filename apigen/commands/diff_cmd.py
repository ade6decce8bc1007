"""`apigen diff POLICY --against DIR | --against-ref REF`: exit 0 when nothing changed, 1 when
something did, 2 on a usage problem (no such ref, inputs that do not compile)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from apigen.console import colour_enabled, data, message, style

EXIT_CHANGED = 1
EXIT_USAGE = 2


@click.command("diff")
@click.argument("policy", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--against",
    "against_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="An existing bundle directory (what is deployed).",
)
@click.option("--against-ref", help="A git ref: the same inputs as committed there.")
@click.option(
    "--view",
    type=click.Choice(["semantic", "unified", "all"]),
    default="semantic",
    show_default=True,
    help="semantic: summary + directive changes; unified: per-file text diff; all: both.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; only the exit code tells.")
def diff(policy: Path, against_dir: Path | None, against_ref: str | None, view: str, fmt: str, quiet: bool) -> None:
    """Compare what POLICY compiles to now with a bundle directory or a git ref of the inputs."""

    if (against_dir is None) == (against_ref is None):
        raise click.UsageError("give exactly one of --against DIR or --against-ref REF")
    if against_dir is not None and not (against_dir / "nginx.conf").is_file():
        message(f"apigen: {against_dir} is not a bundle (no nginx.conf); build one with `apigen build -o`")
        sys.exit(EXIT_USAGE)
    try:
        _diff(policy, against_dir, against_ref, view, fmt, quiet)
    except Exception as exc:
        from apigen.commands import internal_error

        internal_error(exc)


def _diff(policy: Path, against_dir: Path | None, against_ref: str | None, view: str, fmt: str, quiet: bool) -> None:
    from apigen.diff.semantic import diff_views, view_payload
    from apigen.diff.sides import DiffInputError, Side, checkout_ref, compile_side, temp_workdir
    from apigen.diff.summary import grouped_lines, summarise, summary_lines
    from apigen.diff.textdiff import file_changes, read_bundle_dir, unified
    from apigen.verify.localize import include_dir_of
    from apigen.verify.parse import parse_bundle

    with temp_workdir() as tmp:
        work = Path(tmp)
        try:
            new = compile_side(policy, work, "new", str(policy))
            if against_ref is not None:
                old_policy = checkout_ref(policy, against_ref, work)
                old = compile_side(old_policy, work, "old", str(policy))
                old.label = against_ref
            else:
                assert against_dir is not None
                old = Side(str(against_dir), against_dir)
        except DiffInputError as exc:
            message(f"apigen: {exc}")
            sys.exit(EXIT_USAGE)
        new.label = "new"
        old_files, new_files = read_bundle_dir(old.bundle_dir), read_bundle_dir(new.bundle_dir)
        files = file_changes(old_files, new_files)
        parsed = [parse_bundle(s.bundle_dir) for s in (old, new)]
        errors = [f"{side}: {e}" for side, p in zip(("old", "new"), parsed, strict=True) for e in p.errors]
        views = [view_payload(p.payload) for p in parsed]
        changes = diff_views(views[0], views[1])
        summary = summarise(views[0], views[1], changes, old.plan, new.plan)
        # Both sides are checked relocated (apigen.verify.localize): where the includes point is
        # compared here (a moved include_dir read "no change"; found by a review).
        moved = [include_dir_of(s.bundle_dir) or "" for s in (old, new)]
        if moved[0] != moved[1]:
            summary["include_dir"] = moved
        # Files nginx does not parse (njs modules, key lists) count by content.
        opaque = [f for f in files["added"] + files["removed"] + files["changed"] if not f.endswith(".conf")]
        changed = bool(changes or opaque or summary["routes_added"] or summary["routes_removed"] or "include_dir" in summary)
        text_diff = unified(old_files, new_files, "a", "b") if view in ("unified", "all") else ""

    if quiet:
        sys.exit(EXIT_CHANGED if changed else 0)
    if fmt == "json":
        doc = {
            "changed": changed,
            "against": against_ref if against_ref is not None else str(against_dir),
            "summary": summary,
            "semantic": [c.as_dict() for c in changes],
            "files": files,
            "parse_errors": errors,
        }
        if view in ("unified", "all"):
            doc["unified"] = text_diff
        data(json.dumps(doc, indent=2))
    else:
        colour = colour_enabled(sys.stdout)
        for err in errors:
            message(f"apigen: warning: cannot parse {err}")
        if view in ("semantic", "all"):
            lines = summary_lines(summary)
            if lines:
                data(style("Summary", colour, bold=True))
                for line in lines:
                    data("  " + _colour_line(line, colour))
            if changes:
                data(style("Directives", colour, bold=True))
                for line in grouped_lines(changes):
                    data("  " + _colour_line(line, colour))
            for f in opaque:  # removed and added files said "changed" (found by a hunt)
                state = "added" if f in files["added"] else "removed" if f in files["removed"] else "changed"
                data(f"  {'+' if state == 'added' else '-' if state == 'removed' else '~'} file {f} {state}")
        if view in ("unified", "all") and text_diff:
            data("".join(_colour_line(line, colour) + "\n" for line in text_diff.splitlines()).rstrip("\n"))
        message(f"{policy}: {_count_line(changes, opaque, summary) if changed else 'no change'} against {against_ref or against_dir}")
    sys.exit(EXIT_CHANGED if changed else 0)


def _count_line(changes: list, opaque: list[str], summary: dict) -> str:
    """What changed, counted: a change that is only in a file nginx does not parse (a JWT issuer
    or key in the njs configuration, an API-key list) said "0 directive changes" (found by a hunt)."""
    parts = []
    if changes or not (opaque or "include_dir" in summary):
        parts.append(f"{len(changes)} directive change{'s' if len(changes) != 1 else ''}")
    if opaque:
        parts.append(f"{len(opaque)} other file{'s' if len(opaque) != 1 else ''} changed")
    if "include_dir" in summary:
        parts.append("include_dir moved")
    return ", ".join(parts)


def _colour_line(line: str, colour: bool) -> str:
    stripped = line.lstrip()
    if stripped.startswith("+"):
        return style(line, colour, fg="green")
    if stripped.startswith("-"):
        return style(line, colour, fg="red")
    if stripped.startswith("~") or stripped.startswith("@@"):
        return style(line, colour, fg="yellow")
    return line
