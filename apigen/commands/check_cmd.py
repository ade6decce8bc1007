"""`apigen check POLICY`: build into a temporary directory (or take `--bundle DIR`), run
`nginx -t` (local `--nginx PATH`, or `--docker IMAGE`) and gixy-ng; map messages back to the
generated file and, where the bundle's structure tells, to the policy line.

Exit codes: 0 clean, 1 nginx -t failed or gixy found something, 2 a tool is missing or failed."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from apigen.console import colour_enabled, data, message, style

EXIT_FINDINGS = 1
EXIT_TOOL = 2


@click.command("check")
@click.argument("policy", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--bundle", "bundle_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Check this built bundle instead of building POLICY into a temporary directory.")
@click.option("--nginx", "nginx_bin", default="nginx", show_default=True, help="The nginx binary for nginx -t.")
@click.option("--docker", "docker_image", help="Run nginx -t in this container image instead (needs a Docker engine).")
@click.option("--gixy", "gixy_path", help="gixy executable or virtualenv (default: $APIGEN_GIXY, then gixy on PATH).")
@click.option("--no-gixy", is_flag=True, help="Do not run gixy-ng.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Print problems only.")
def check(policy: Path, bundle_dir: Path | None, nginx_bin: str, docker_image: str | None, gixy_path: str | None,
          no_gixy: bool, fmt: str, quiet: bool) -> None:
    """Run nginx -t and the gixy-ng security analyser on the bundle POLICY compiles to."""
    from apigen.commands import compile_or_exit

    result = compile_or_exit(policy)
    with tempfile.TemporaryDirectory(prefix="apigen-check-") as tmp:
        if bundle_dir is None:
            bundle_dir = Path(tmp) / "bundle"
            bundle_dir.mkdir()
            assert result.bundle is not None
            result.bundle.write_tree(bundle_dir)
        report = _run(bundle_dir, result, nginx_bin, docker_image, gixy_path, no_gixy)
    failed = report["nginx"]["status"] == "failed" or report["gixy"]["status"] == "findings"
    # A tool that ran and failed is never a pass: a security gate must not go green on a crash.
    tool_missing = (
        report["nginx"]["status"] == "unavailable"
        or report["gixy"]["status"] == "error"
        or (report["gixy"]["status"] == "unavailable" and (gixy_path is not None))
    )
    if fmt == "json":
        data(json.dumps(report, indent=2))
    else:
        _print_text(report, quiet)
    sys.exit(EXIT_TOOL if tool_missing else EXIT_FINDINGS if failed else 0)


def _run(bundle_dir: Path, result: Any, nginx_bin: str, docker_image: str | None, gixy_path: str | None,
         no_gixy: bool) -> dict[str, Any]:
    from apigen.verify import parse_bundle
    from apigen.verify.origin import directive_at, policy_position

    parsed = parse_bundle(bundle_dir)

    def origin(file: str | None, line: int | None) -> dict[str, Any] | None:
        if not file or not line:
            return None
        ref = directive_at(parsed.payload, file, line)
        pos = policy_position(ref, result.plan, result.source) if ref is not None else None
        return {"file": pos.file, "line": pos.line, "column": pos.col} if pos is not None else None

    report: dict[str, Any] = {"bundle": str(bundle_dir), "target": str(result.config.target)}
    report["nginx"] = _nginx(bundle_dir, result, nginx_bin, docker_image, origin)
    report["gixy"] = _gixy(bundle_dir, gixy_path, no_gixy, origin)
    return report


def _nginx(bundle_dir: Path, result: Any, nginx_bin: str, docker_image: str | None, origin) -> dict[str, Any]:
    from apigen.verify import NginxNotFoundError, run_nginx_t
    from apigen.verify.docker import DockerUnavailableError, run_nginx_t_docker

    if result.config.target.is_plus:
        # nginx -t needs NGINX Plus itself; the build already parsed the bundle and checked every
        # directive against the Plus release's table.
        return {"status": "skipped", "reason": "NGINX Plus target: checked by parsing only", "messages": []}
    try:
        if docker_image:
            res = run_nginx_t_docker(bundle_dir, docker_image)
        else:
            res = run_nginx_t(bundle_dir, nginx=nginx_bin)
    except (NginxNotFoundError, DockerUnavailableError) as exc:
        return {"status": "unavailable", "reason": str(exc), "messages": []}
    messages = [
        {"file": m.file, "line": m.line, "level": m.level, "text": m.text, "policy": origin(m.file, m.line)}
        for m in res.messages
    ]
    return {"status": "ok" if res.ok else "failed", "messages": messages,
            "runner": f"docker:{docker_image}" if docker_image else nginx_bin}


def _gixy(bundle_dir: Path, gixy_path: str | None, no_gixy: bool, origin) -> dict[str, Any]:
    from apigen.verify.gixy import GixyNotFoundError, find_gixy, run_gixy

    if no_gixy:
        return {"status": "skipped", "reason": "--no-gixy", "findings": []}
    try:
        exe = find_gixy(gixy_path)
        findings = run_gixy(bundle_dir, exe)
    except GixyNotFoundError as exc:
        return {"status": "unavailable", "reason": str(exc), "findings": []}
    except (RuntimeError, OSError) as exc:
        return {"status": "error", "reason": str(exc), "findings": []}
    real = [f for f in findings if not f.explained]
    return {
        "status": "findings" if real else "ok",
        "findings": [{**f.as_dict(), "policy": origin(f.file, f.line)} for f in real],
        # Raised by apigen's output by design (apigen/verify/gixy_explained.py): shown, not failed on.
        "explained": [f.as_dict() for f in findings if f.explained],
    }


def _print_text(report: dict[str, Any], quiet: bool) -> None:
    colour = colour_enabled(sys.stdout)
    nginx = report["nginx"]
    for m in nginx["messages"]:
        where = f"{report['bundle']}/{m['file']}:{m['line']}: " if m["file"] else ""
        line = f"{where}[{m['level']}] {m['text']}"
        if m["policy"]:
            line += f"\n  from {m['policy']['file']}:{m['policy']['line']}:{m['policy']['column']}"
        data(style(line, colour, fg="red" if m["level"] in ("emerg", "alert", "crit", "error") else "yellow"))
    for f in report["gixy"]["findings"]:
        line = f"{f['file']}:{f['line']}: gixy {f['severity'].lower()}: {f['summary']} ({f['reason']}) [{f['plugin']}]"
        if f["policy"]:
            line += f"\n  from {f['policy']['file']}:{f['policy']['line']}:{f['policy']['column']}"
        if f["reference"]:
            line += f"\n  see {f['reference']}"
        data(style(line, colour, fg="yellow"))
    if quiet:
        for part in ("nginx", "gixy"):
            if report[part]["status"] in ("unavailable", "error"):
                message(f"apigen: {part}: {report[part]['reason']}")
        return
    n = report["nginx"]
    message(f"nginx -t: {n['status']}" + (f" ({n['reason']})" if "reason" in n else ""))
    g = report["gixy"]
    count = f", {len(g['findings'])} finding{'s' if len(g['findings']) != 1 else ''}" if g["findings"] else ""
    message(f"gixy: {g['status']}{count}" + (f" ({g['reason']})" if "reason" in g else ""))
    for f in g.get("explained", []):
        message(f"  explained, not a finding: {f['file']}:{f['line']} [{f['plugin']}]: {f['explained']}")
