"""The verify stage as `build` runs it: parse the written bundle back with crossplane and check
every directive against the target's capability table, before the bundle replaces the output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from apigen.diagnostics import CompileError, Diagnostics, Position

if TYPE_CHECKING:
    from apigen.pipeline import Compiled


def verify_bundle_dir(bundle_dir: Path, target, diags: Diagnostics) -> None:
    from apigen.verify import check_directives_for_target, parse_bundle
    from apigen.verify.health_checks import check_health_checks
    from apigen.verify.named_locations import check_named_locations

    parsed = parse_bundle(bundle_dir)
    for err in parsed.errors:
        diags.error(
            f"generated configuration does not parse: {err.message}",
            Position(err.file or "nginx.conf", err.line or 0, 1 if err.line else 0),
        )
    if parsed.ok:
        for err in [
            *check_directives_for_target(parsed.payload, target),
            *check_named_locations(parsed.payload),
            *check_health_checks(parsed.payload),
        ]:
            diags.error(
                f"generated configuration: {err.message}",
                Position(err.file or "nginx.conf", err.line or 0, 1 if err.line else 0),
            )


def verify_written_bundle(result: Compiled) -> Callable[[Path], None]:
    def verify(tmp_dir: Path) -> None:
        verify_bundle_dir(tmp_dir, result.config.target, result.diagnostics)
        result.diagnostics.raise_if_errors()

    return verify


__all__ = ["CompileError", "verify_bundle_dir", "verify_written_bundle"]
