"""Checking a bundle built with ``gateway.include_dir``: its files name each other by the place
they will be deployed to (``include "/etc/nginx/apigen/api_gateway.conf"``), so parsing or testing
the bundle where it was written followed those paths to whatever was deployed there, or to
nothing (found by a hunt: every build with include_dir failed its own check, and `check` and
`diff` looked at the deployed files). The checks run on a copy whose paths are relative again."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# The main file includes the http-level entry point through include_dir (templates/nginx.conf.j2).
_ENTRY_INCLUDE = re.compile(r'^\s*include "(?P<dir>[^"]*)/api_gateway\.conf";', re.M)


def include_dir_of(bundle: Path, main: str = "nginx.conf") -> str | None:
    """The include_dir a bundle was built with, or None (paths relative to the bundle)."""
    try:
        text = (bundle / main).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = _ENTRY_INCLUDE.search(text)
    return m.group("dir") if m and m.group("dir") else None


# The directives whose arguments apigen writes with include_dir (plan.include, the policies'
# include_path): only their lines are rewritten, never a user's value that starts alike (a header
# value "apigen/v1" with include_dir `apigen` was rewritten; found by a review).
_PATH_DIRECTIVE = re.compile(
    r"^\s*(?:include|js_import|js_path|auth_basic_user_file|auth_jwt_key_file|modsecurity_rules_file"
    r"|app_protect_policy_file|(?:proxy_|grpc_)?ssl_(?:certificate|certificate_key|client_certificate"
    r"|trusted_certificate|crl))\s"
)


def relocate(copy: Path, include_dir: str) -> None:
    """Make the `"<include_dir>/..."` path arguments of the copy's configuration files relative."""
    quoted = f'"{include_dir.rstrip("/")}/'
    for conf in copy.rglob("*.conf"):
        if conf.is_file() and not conf.is_symlink():
            text = conf.read_text(encoding="utf-8", errors="surrogateescape")
            if quoted not in text:
                continue
            lines = text.split("\n")
            for i, line in enumerate(lines):
                if quoted in line and _PATH_DIRECTIVE.match(line):
                    lines[i] = line.replace(quoted, '"')
            conf.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")


@contextlib.contextmanager
def checkable(bundle: Path, main: str = "nginx.conf") -> Iterator[Path]:
    """``bundle`` itself, or a relocated temporary copy of it when it names include_dir paths."""
    include_dir = include_dir_of(bundle, main)
    if include_dir is None:
        yield bundle
        return
    with tempfile.TemporaryDirectory(prefix="apigen-relocated-") as tmp:
        copy = Path(tmp) / "bundle"
        # Not the running nginx's logs/ and temp/ (a FIFO there crashed the copy; a review).
        shutil.copytree(bundle, copy, symlinks=True, ignore=lambda d, names: runtime_dirs(bundle, d, names))
        relocate(copy, include_dir)
        yield copy


def runtime_dirs(bundle: Path, directory: str, names: list[str]) -> list[str]:
    """The running nginx's directories of a deployed bundle, left out of the copies checked."""
    return [n for n in names if n in ("logs", "temp")] if Path(directory) == bundle else []
