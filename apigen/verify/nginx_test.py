"""Run ``nginx -t`` on a bundle without root and without touching the user's bundle or /var/log.

The bundle is copied into a temporary prefix (``-p``) so relative ``pid``, ``error_log``, log and
``*_temp_path`` paths land there (nginx -t opens log files and creates temp dirs), ``logs/`` is
created in the copy, and nginx's own startup log goes to ``-e <tmp>/error.log``. Paths in nginx's
messages are mapped back to bundle-relative ones.

Absolute paths in the config are used as written: a bundle that leaves ``access_log`` or the temp
paths at their compiled-in defaults (/var/log/nginx, /var/lib/nginx) still makes nginx -t open them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from apigen.verify.localize import include_dir_of, relocate, runtime_dirs

_LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
_ERROR_LEVELS = frozenset(("emerg", "alert", "crit", "error"))

# stderr: "nginx: [emerg] text"; -e log file: "2024/01/02 03:04:05 [emerg] 123#123: text".
_LINE_RE = re.compile(r"^(?:nginx: |\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )\[(?P<level>[a-z]+)\] (?:\d+#\d+: )?(?P<text>.*)$")
# ngx_conf_log_error appends " in /file:line"; the text before may itself contain " in ".
_WHERE_RE = re.compile(r"^(?P<text>.*) in (?P<file>/.*):(?P<line>\d+)$")


class NginxNotFoundError(FileNotFoundError):
    pass


@dataclass(frozen=True)
class NginxMessage:
    file: str | None  # bundle-relative when inside the bundle
    line: int | None
    level: str
    text: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        return f"{where}[{self.level}] {self.text}"


@dataclass
class NginxTestResult:
    ok: bool
    output: str
    messages: list[NginxMessage] = field(default_factory=list)

    @property
    def errors(self) -> list[NginxMessage]:
        return [m for m in self.messages if m.level in _ERROR_LEVELS]


def _map_path(path: str, roots: tuple[Path, ...]) -> str:
    for root in roots:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            continue
    return path


def parse_nginx_output(text: str, roots: tuple[Path, ...] = ()) -> list[NginxMessage]:
    """Messages from nginx's stderr or error log; files under any of ``roots`` become relative."""
    messages: list[NginxMessage] = []
    for raw in text.splitlines():
        m = _LINE_RE.match(raw.strip())
        if not m or m["level"] not in _LEVELS:
            continue
        body, file, line = m["text"], None, None
        where = _WHERE_RE.match(body)
        if where:
            body = where["text"]
            # njs reports a missing module "in <prefix>/:1": a directory, not a place in a file.
            if not where["file"].endswith("/"):
                file, line = _map_path(where["file"], roots), int(where["line"])
        messages.append(NginxMessage(file, line, m["level"], body))
    return messages


def _find_nginx(nginx: str) -> str:
    found = shutil.which(nginx)
    if found:
        return found
    if os.sep in nginx and os.access(nginx, os.X_OK):
        return nginx
    raise NginxNotFoundError(f"nginx binary {nginx!r} not found")


def run_nginx_t(
    bundle_dir: Path, nginx: str = "nginx", main: str = "nginx.conf", timeout: float = 30
) -> NginxTestResult:
    """``nginx -t -q`` on a temporary copy of ``bundle_dir``. Raises NginxNotFoundError if the
    binary is missing (a skipped check is not a passed one)."""
    exe = _find_nginx(nginx)
    bundle = Path(bundle_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="apigen-nginx-t-") as tmp:
        tmp_dir = Path(tmp).resolve()
        prefix = tmp_dir / "bundle"
        shutil.copytree(bundle, prefix, symlinks=True, ignore=lambda d, names: runtime_dirs(bundle, d, names))
        include_dir = include_dir_of(bundle, main)
        if include_dir is not None:  # the copy's files name each other, not the deployed ones
            relocate(prefix, include_dir)
        # The runtime directories the bundle declares (git does not keep empty ones).
        for runtime_dir in ("logs", "temp"):
            (prefix / runtime_dir).mkdir(exist_ok=True)
        error_log = tmp_dir / "error.log"
        cmd = [exe, "-t", "-q", "-p", f"{prefix}/", "-c", str(prefix / main), "-e", str(error_log)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            text = f"nginx -t timed out after {timeout}s"
            return NginxTestResult(False, text, [NginxMessage(None, None, "emerg", text)])
        output = _unprefix(proc.stdout + proc.stderr, prefix, bundle)
        messages = parse_nginx_output(output, (bundle,))
        if not messages and error_log.is_file():
            # nginx also writes emerg..warn to stderr while testing; fall back to the log if not.
            log_text = _unprefix(error_log.read_text(errors="replace"), prefix, bundle)
            messages = parse_nginx_output(log_text, (bundle,))
            output += log_text
        return NginxTestResult(proc.returncode == 0, output, messages)


def _unprefix(text: str, prefix: Path, bundle: Path) -> str:
    # Show the user's paths, not the temporary copy's, in files and in message text alike.
    return text.replace(str(prefix), str(bundle))
