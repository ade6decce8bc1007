"""Shared helpers of the benchmarks: timing child processes, writing policies, printing tables.

Benchmarks are run on purpose (never by pytest). Every figure is reported together with a
baseline measured in the same run, because the machine is shared and absolute numbers drift.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The corpus is vendored in tests/corpus; $APIGEN_CORPUS or ../shared/corpus otherwise.
CORPUS = next(
    (
        p
        for p in (
            REPO / "tests" / "corpus",
            Path(os.environ.get("APIGEN_CORPUS", REPO / "tests" / "corpus")),
            REPO.parent / "shared" / "corpus",
            REPO.parent.parent / "shared" / "corpus",
        )
        if (p / "box-openapi.json").is_file()
    ),
    REPO / "tests" / "corpus",
)
BIG_SPECS = ("twilio_api_v2010.yaml", "box-openapi.json", "discord-openapi-3.1.json")


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    max_rss_kib: int  # peak resident set of the child (ru_maxrss)
    returncode: int
    stderr: str


GNU_TIME = "/usr/bin/time"


def run_timed(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd``; wall time and the command's own peak RSS. The RSS comes from GNU time when
    present: Linux carries a process's ru_maxrss across fork and exec, so wait4 on a child of
    this (large) benchmark process would report the benchmark's own peak, not the command's."""
    rss_file = None
    argv = list(cmd)
    if os.access(GNU_TIME, os.X_OK):
        fd, rss_file = tempfile.mkstemp(prefix="apigen-bench-rss-")
        os.close(fd)
        argv = [GNU_TIME, "-q", "-f", "%M", "-o", rss_file, *argv]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    rss = 0
    if rss_file:
        try:
            rss = int(Path(rss_file).read_text().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            rss = 0
        os.unlink(rss_file)
    return Run(wall, rss, proc.returncode, proc.stderr)


def best_of(n: int, cmd: Sequence[str], **kw) -> Run:
    """The fastest of ``n`` runs (the least disturbed by other load), peak RSS of that run."""
    runs = [run_timed(cmd, **kw) for _ in range(n)]
    return min(runs, key=lambda r: r.wall)


def apigen_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "apigen", *args]


def write_policy(path: Path, specs: dict[str, Path], upstream: str, listen: str, **gateway) -> Path:
    """A policy routing every spec to one upstream. JSON is valid YAML; no PyYAML dump."""
    data = {
        "target": {"flavor": "oss", "version": "1.22"},
        "gateway": {"listen": listen, **gateway},
        "upstreams": {"be": {"servers": [{"address": upstream}], "keepalive": 64}},
        "apis": [{"name": name, "spec": str(spec), "upstream": "be"} for name, spec in specs.items()],
    }
    path.write_text(json.dumps(data, indent=2))
    return path


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()} / {os.cpu_count()} cores / {cpu} / Python {platform.python_version()}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table (pastes straight into benchmarks/README.md)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    sys.stdout.flush()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
