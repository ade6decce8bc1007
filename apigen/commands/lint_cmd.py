"""`apigen lint POLICY...`: validate plus rules; text, JSON or SARIF; exit 1 on errors (or on
warnings with ``--strict``). Several policy files may be given (as a pre-commit hook does)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from apigen.console import colour_enabled, data, message

EXIT_FINDINGS = 1


@click.command("lint")
@click.argument("policies", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--no-cache", is_flag=True, help="Ignore and do not update the lint cache.")
@click.option("--list-rules", is_flag=True, help="List the rules with their default levels and exit.")
@click.option("--quiet", "-q", is_flag=True, help="Text format: print errors only, no summary.")
def lint(policies: tuple[Path, ...], fmt: str, strict: bool, no_cache: bool, list_rules: bool, quiet: bool) -> None:
    """Check each POLICY like `validate`, then run the lint rules on it.

    Rules are re-levelled or disabled in the policy file (`lint: {rules: {RULE: off}}`) or inline
    (`# apigen-lint: disable=RULE`). Results are cached by the content digest of every input
    ($APIGEN_CACHE_DIR, else $XDG_CACHE_HOME/apigen).
    """
    from apigen.diagnostics import Severity
    from apigen.lint.runner import lint as run

    if list_rules:
        _list_rules()
        return
    if not policies:
        raise click.UsageError("missing argument 'POLICY'")
    # A file named twice (`lint a.yaml ./a.yaml`, a shell glob) is linted once: its findings were
    # reported twice (noticed by a hunt).
    unique: dict[Path, Path] = {}
    for policy in policies:
        unique.setdefault(policy.resolve(), policy)
    policies = tuple(unique.values())
    findings = []
    cached = []
    for policy in policies:
        try:
            result = run(policy, display=str(policy), use_cache=not no_cache)
        except Exception as exc:  # a bug, not bad input: no traceback for the user
            message(f"apigen: internal error on {policy}: {type(exc).__name__}: {exc}")
            sys.exit(3)
        findings += result.findings
        cached.append(result.cached)
        if fmt == "text":
            from apigen.lint.output import format_text

            text = format_text(result.findings, colour_enabled(sys.stdout), quiet, strict)
            if text:
                data(text)
            if not quiet:
                counts = [f"{result.count(s)} {s.value}{'s' if result.count(s) != 1 else ''}" for s in Severity]
                message(f"{policy}: {', '.join(counts)}{' (cached)' if result.cached else ''}")
    if fmt == "json":
        from apigen.lint.output import format_json

        data(format_json([str(p) for p in policies], findings, all(cached)))
    elif fmt == "sarif":
        from apigen.lint.output import format_sarif

        data(format_sarif(findings))
    errors = sum(1 for d in findings if d.severity is Severity.ERROR)
    warnings = sum(1 for d in findings if d.severity is Severity.WARNING)
    sys.exit(EXIT_FINDINGS if errors or (strict and warnings) else 0)


def _list_rules() -> None:
    from apigen.lint.rules import RULES

    width = max(len(r) for r in RULES)
    for r in sorted(RULES.values(), key=lambda r: r.id):
        data(f"{r.id.ljust(width)}  {r.severity.value:<7}  {r.summary}")
