"""The `apigen` command line. Exit codes: 0 ok, 1 invalid input, 2 usage error."""

from __future__ import annotations

import os
import signal
import sys

from apigen import interrupt

# Before the imports below (~40 ms, click most of it): a SIGTERM in that window killed the
# command outright (no 128+N, no message), and a SIGINT printed a KeyboardInterrupt traceback.
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _exit_on_signal(signum: int, frame: object) -> None:
    """SIGINT, SIGTERM, SIGHUP: leave as SystemExit(128 + N), which every cleanup on the way
    out sees (the bundle writer removes its temporary directory; nothing partial is left), and
    which no `except Exception` turns into an internal error. A SIGTERM killed the process at
    once, leaving the temporary directory behind (found by a hunt)."""
    signal.signal(signum, signal.SIG_IGN)  # a second signal must not interrupt the cleanup
    interrupt.record(128 + signum)  # raised again if this SystemExit is dropped (see there)
    sys.stderr.write(f"apigen: interrupted ({signal.Signals(signum).name})\n")
    sys.stderr.flush()
    sys.exit(128 + signum)


def _install_signal_handlers() -> None:
    interrupt.install()
    for sig in _INTERRUPTS:
        signal.signal(sig, _exit_on_signal)


def _running_as_the_command() -> bool:
    """The `apigen` script or `python -m apigen` (not a program or test importing this module)."""
    argv0 = sys.argv[0] if sys.argv else ""
    return os.path.basename(argv0) == "apigen" or argv0.endswith(os.path.join("apigen", "__main__.py"))


if _running_as_the_command():
    _install_signal_handlers()

import json  # noqa: E402  (after the handlers: see above)
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402

from apigen import __version__  # noqa: E402
from apigen.diagnostics import CompileError, Diagnostic, Position, Severity  # noqa: E402

EXIT_INVALID = 1


def _print_diagnostics(items: list[Diagnostic], quiet: bool = False) -> None:
    for d in items:
        if quiet and d.severity is not Severity.ERROR:
            continue
        click.echo(d.format(), err=True)  # format() escapes quoted input


def _fail(exc: CompileError, quiet: bool = False) -> None:
    items = exc.diagnostics.sorted()
    _print_diagnostics(items, quiet)
    # The errors printed: sorted() drops repeats (a spec two APIs name is validated for each),
    # which were counted too ("apigen: 4 errors" under two lines; found by a hunt).
    n = sum(d.severity is Severity.ERROR for d in items)
    click.echo(f"apigen: {n} error{'s' if n != 1 else ''}", err=True)
    sys.exit(EXIT_INVALID)


def _internal_error(exc: BaseException) -> None:
    from apigen.commands import internal_error

    internal_error(exc)


policy_argument = click.argument("policy", type=click.Path(path_type=Path, dir_okay=False))
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print errors only.")


# Commands that never validate an OpenAPI document.
_NO_SPECS = {"schema-docs", None}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="apigen")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Compile OpenAPI documents and a policy file into an NGINX gateway configuration."""
    # Libraries' warnings (re's FutureWarning on a spec's "[[:alpha:]]" pattern, from
    # openapi-schema-validator) are not messages about the input: output is diagnostics only.
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    _install_signal_handlers()
    if ctx.invoked_subcommand not in _NO_SPECS:
        from apigen.validate import prewarm

        # Imports openapi-spec-validator on the other core while this process imports the rest.
        prewarm.start()
        ctx.call_on_close(prewarm.stop)


@main.command()
@policy_argument
@quiet_option
def validate(policy: Path, quiet: bool) -> None:
    """Check POLICY and the OpenAPI documents it names; exit 1 on any error."""
    from apigen.pipeline import compile_policy

    try:
        result = compile_policy(policy, render=False, display=str(policy))
    except CompileError as exc:
        _fail(exc, quiet)
    except Exception as exc:
        _internal_error(exc)
    _print_diagnostics(result.diagnostics.sorted(), quiet)
    if not quiet:
        ops = sum(len(a.operations) for a in result.config.apis)
        click.echo(f"{policy}: valid ({len(result.config.apis)} APIs, {ops} operations)", err=True)


@main.command()
@policy_argument
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Bundle directory to (re)create.",
)
@click.option("--no-verify", is_flag=True, help="Skip parsing the bundle back with crossplane.")
@quiet_option
def build(policy: Path, out_dir: Path, no_verify: bool, quiet: bool) -> None:
    """Validate POLICY, render the bundle and replace OUT atomically."""
    from apigen.bundle import write_atomic
    from apigen.pipeline import compile_policy
    from apigen.verify_bundle import verify_written_bundle

    try:
        result = compile_policy(policy, display=str(policy))
        assert result.bundle is not None
        _check_runtime_files_outlive_builds(result, out_dir)
        try:
            write_atomic(result.bundle, out_dir, verify=None if no_verify else verify_written_bundle(result))
        except OSError as exc:  # the output place: not a directory, no permission, disk full
            # Named by the user's -o: the file that failed may be in apigen's temporary sibling.
            result.diagnostics.error(f"cannot write the bundle: {exc.strerror or exc}", Position(str(out_dir)))
            raise CompileError(result.diagnostics) from None
    except CompileError as exc:
        _fail(exc, quiet)
    except Exception as exc:
        _internal_error(exc)
    _print_diagnostics(result.diagnostics.sorted(), quiet)
    if not quiet:
        click.echo(f"wrote {len(result.bundle.files)} files to {out_dir}", err=True)


def _check_runtime_files_outlive_builds(result, out_dir: Path) -> None:
    """A file nginx makes at run time inside the bundle directory (the cache verifier's socket,
    the JSON access log given as an absolute path) must be in a directory rebuilds keep."""
    from apigen.bundle import outside_kept_dirs
    from apigen.policies.auth_cache import sockets_replaced_by_build

    hint = f"put it under {out_dir}/temp/ or {out_dir}/logs/ (kept across rebuilds) or outside the bundle"
    for policy, path in sockets_replaced_by_build(result.config, out_dir):
        result.diagnostics.error(
            f"cache.listen: the socket {path} is inside the output directory, which every build replaces: "
            "the socket file nginx made goes with the previous bundle, and every cached JWT check answers 500 "
            "until nginx restarts",
            result.source.pos(*policy.path, "cache", "listen"),
            hint=hint,
        )
    log = result.config.gateway.access_log
    if log is not None and log.path.startswith("/") and outside_kept_dirs(out_dir, log.path):
        result.diagnostics.error(
            f"access_log path {log.path!r} is inside the output directory, which every build replaces: the "
            "log written so far goes with the previous bundle, and nginx writes to a deleted file until the reload",
            result.source.pos("gateway", "access_log", "path"),
            hint=hint,
        )
    result.diagnostics.raise_if_errors()


@main.command()
@policy_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def routes(policy: Path, fmt: str) -> None:
    """List every route: method, path, operationId, nginx location, upstream, and the effective
    policies of each operation with the level (gateway, api, tag, operation) each came from."""
    from apigen.console import data
    from apigen.explain import operation_details
    from apigen.pipeline import compile_policy
    from apigen.plan.report import route_rows

    try:
        result = compile_policy(policy, render=False, display=str(policy))
    except CompileError as exc:
        _fail(exc)
    except Exception as exc:
        _internal_error(exc)
    rows = route_rows(result.plan)
    ops = {(o.api, o.operation_id): o for a in result.plan.apis for o in a.operations}
    for row in rows:
        details = operation_details(ops[(row["api"], row["operation"])], result.plan, result.source)
        for key in ("upstream_origin", "timeouts", "security", "policies", "inactive_policies"):
            row[key] = details[key]
    if fmt == "json":
        data(json.dumps(rows, indent=2))
        return
    headers = ["METHOD", "PATH", "OPERATION", "LOCATION", "UPSTREAM", "POLICIES"]
    table = [headers]
    for r in rows:
        policies = ", ".join(f"{p['name']}({p['kind']})@{p['level']}" for p in r["policies"]) or "-"
        upstream = r["upstream"] + ("" if r["upstream_origin"] == "api" else f"@{r['upstream_origin']}")
        table.append([r["method"], r["path"], r["operation"], r["location"], upstream, policies])
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for row in table:
        data("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip())


def _add_workflow_commands() -> None:
    from apigen.commands.check_cmd import check
    from apigen.commands.diff_cmd import diff
    from apigen.commands.docs_cmd import schema_docs
    from apigen.commands.explain_cmd import explain
    from apigen.commands.lint_cmd import lint

    main.add_command(lint)
    main.add_command(diff)
    main.add_command(check)
    main.add_command(explain)
    main.add_command(schema_docs)


_add_workflow_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
