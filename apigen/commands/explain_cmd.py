"""`apigen explain METHOD URL --policy POLICY`: which operation a request reaches, through which
location, and what applies to it in the order nginx applies it."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from apigen.console import colour_enabled, data, style
from apigen.diagnostics import one_line

EXIT_NOT_ROUTED = 1


@click.command("explain")
@click.argument("method")
@click.argument("url")
@click.option("--policy", "-p", "policy", type=click.Path(path_type=Path, dir_okay=False),
              default=lambda: os.environ.get("APIGEN_POLICY", "policy.yaml"), show_default="$APIGEN_POLICY or policy.yaml",
              help="The policy file.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(method: str, url: str, policy: Path, fmt: str) -> None:
    """Explain how the gateway handles METHOD URL (a path, or a full URL).

    Exit 0 when the request reaches an operation, 1 when the gateway answers it itself
    (400/404/405, or closes the connection: 444 for a host it does not serve).
    """
    from apigen.commands import compile_or_exit, internal_error

    result = compile_or_exit(policy)
    try:
        urlsplit(url)
    except ValueError as exc:  # e.g. "http://[::1": not a URL at all
        raise click.BadParameter(str(exc), param_hint="URL") from None
    try:
        _explain(result, method, url, fmt)
    except Exception as exc:
        internal_error(exc)


def _explain(result: Any, method: str, url: str, fmt: str) -> None:
    from apigen.explain import location_phases, operation_details, resolve
    from apigen.verify.parse import parse_bundle

    res = resolve(result.plan, method, url)
    doc: dict[str, Any] = {
        "method": res.method,
        "uri": res.uri,
        "status": res.status,
        "location": res.location,
        "route": res.route.route_id if res.route else None,
        "notes": res.notes,
    }
    if res.status == 405:
        doc["allow"] = res.allow
    if res.operation is not None:
        op = res.operation
        doc.update(operation_details(op, result.plan, result.source))
        doc["path"] = f"{op.method} {op.path}"
        with tempfile.TemporaryDirectory(prefix="apigen-explain-") as tmp:
            assert result.bundle is not None
            result.bundle.write_tree(Path(tmp))
            doc["phases"] = location_phases(parse_bundle(Path(tmp)).payload, op.internal_uri)
    if fmt == "json":
        data(json.dumps(doc, indent=2))
    else:
        _print_text(doc, colour_enabled(sys.stdout))
    sys.exit(0 if res.status == 200 else EXIT_NOT_ROUTED)


def _print_text(doc: dict[str, Any], colour: bool) -> None:
    def row(label: str, value: str) -> None:
        data(f"  {style(label.ljust(10), colour, bold=True)} {value}")

    # The URI is percent-decoded: `/a%1b[2J` must not reach the terminal as an escape sequence
    # (found by a hunt); the JSON output escapes it anyway.
    data(one_line(f"{doc['method']} {doc['uri']}"))
    row("location", one_line(doc["location"]))
    if doc["status"] == 444:
        row("result", "444: connection closed (unknown host)")
    elif doc["status"] == 400:
        row("result", "400 Bad Request (JSON error from the gateway)")
    elif doc["status"] == 404:
        row("result", "404 Not Found (JSON error from the gateway)")
    elif doc["status"] == 405 and doc["route"] is None:
        # TRACE and CONNECT: nginx answers before routing, with no Allow (printed "route None"
        # and an empty "Allow: " before; found by a hunt). The note says why.
        row("result", "405 Method Not Allowed")
    elif doc["status"] == 405:
        row("route", doc["route"])
        row("result", f"405 Method Not Allowed; Allow: {doc['allow']}")
    else:
        row("route", doc["route"])
        row("operation", f"{doc['api']}.{doc['operation']} ({doc['path']})")
        row("internal", f"rewrite to {doc['internal_location']}")
        row("upstream", f"{doc['upstream']} (from {doc['upstream_origin']})")
        if doc["timeouts"]:
            row("timeouts", ", ".join(f"{k} {v}" for k, v in doc["timeouts"].items()))
        if doc["security"]:
            alts = [" AND ".join(f"{k}{'[' + ','.join(v) + ']' if v else ''}" for k, v in alt.items()) or "(none)"
                    for alt in doc["security"]]
            row("spec auth", " OR ".join(alts))
        data(f"  {style('policies', colour, bold=True)} (nginx order)")
        if not doc["policies"]:
            data("    (none)")
        for i, p in enumerate(doc["policies"], start=1):
            o = p["origin"]
            where = f"{o['path']} ({o['file']}:{o['line']})" if o else p["level"]
            data(f"    {i}. {p['name']} ({p['kind']}, {p['phase']}) from {p['level']} {where}")
        for p in doc["inactive_policies"]:
            data(f"    -  {p['name']} ({p['kind']}) from {p['level']}: not applied, {p['reason']}")
        data(f"  {style('directives', colour, bold=True)} by phase")
        for phase, directives in doc["phases"].items():
            data(f"    {phase}:")
            for d in directives:
                data(f"      {d}")
    for note in doc["notes"]:
        row("note", note)
