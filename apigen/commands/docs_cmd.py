"""`apigen schema-docs` (also `python -m apigen.docs`): the policy reference from the schema."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from apigen.console import data, message


@click.command("schema-docs")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE.")
@click.option("--check", "check_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Exit 1 if FILE differs from what would be generated.")
def schema_docs(output: Path | None, check_file: Path | None) -> None:
    """Generate docs/policy-reference.md from schemas/policy.schema.json (stdout by default)."""
    from apigen.docs import check, generate

    if check_file is not None:
        if check(check_file):
            message(f"{check_file}: up to date")
            return
        message(f"{check_file}: stale; regenerate with `python -m apigen.docs -o {check_file}`")
        sys.exit(1)
    text = generate()
    if output is None:
        data(text.rstrip("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    message(f"wrote {output}")
