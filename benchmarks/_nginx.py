"""Private nginx processes for the routing benchmarks: start, wait, measure, stop (by pid)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

NGINX = os.environ.get("APIGEN_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class Nginx:
    """``nginx -p <dir> -c nginx.conf`` in the foreground (we own the master's pid)."""

    def __init__(self, prefix: Path, port: int, conf: str = "nginx.conf") -> None:
        self.prefix, self.port, self.conf = prefix, port, conf
        self.proc: subprocess.Popen[bytes] | None = None

    def test_config(self) -> float:
        """Wall time of ``nginx -t`` on this configuration."""
        start = time.perf_counter()
        subprocess.run(self._cmd("-t", "-q"), check=True, capture_output=True)
        return time.perf_counter() - start

    def _cmd(self, *extra: str) -> list[str]:
        return [NGINX, "-p", f"{self.prefix}/", "-c", self.conf, *extra]

    def start(self) -> Nginx:
        (self.prefix / "logs").mkdir(exist_ok=True)
        (self.prefix / "temp").mkdir(exist_ok=True)
        self.proc = subprocess.Popen(self._cmd("-g", "daemon off;"), stderr=subprocess.PIPE)
        try:
            wait_port(self.port)
        except RuntimeError:
            self.stop()
            raise
        return self

    def workers(self) -> list[int]:
        assert self.proc is not None
        kids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    kids.append(int(entry))
        return kids

    def pin(self, cpus: set[int], timeout: float = 10.0) -> None:
        """Run the master and its workers on ``cpus`` only (workers appear after the listen)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not self.workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in [self.proc.pid, *self.workers()]:
            os.sched_setaffinity(pid, cpus)

    def worker_rss_kib(self) -> int:
        total = 0
        for pid in self.workers():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total = max(total, int(line.split()[1]))
        return total

    def worker_cpu_seconds(self) -> float:
        """User + system CPU time of the workers so far: per-request cost that, unlike wall
        throughput, other load on a shared machine hardly disturbs."""
        ticks = 0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
        return ticks / os.sysconf("SC_CLK_TCK")

    def worker_cpu_ns(self) -> int:
        """CPU time of the workers so far in nanoseconds (``/proc/<pid>/schedstat``, the
        scheduler's own account: finer than the 10 ms ticks of ``worker_cpu_seconds``, which
        matters when two gateways share a core for a few seconds)."""
        return sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for pid in self.workers())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(CPUs for the gateway under test, CPUs for wrk and the backend), or None on one CPU.

    With everything sharing two cores, the network stack's work for loopback traffic is
    accounted to whichever process happens to run it, and the gateway worker's CPU per request
    moved by +-5 % between runs; on a core of its own, a saturated worker's throughput and CPU
    time agree, and repeated runs stay within about 2 %."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return {cpus[-1]}, set(cpus[:-1])


def taskset(cpus: set[int] | None) -> list[str]:
    """The command prefix that runs a command on ``cpus`` only (nothing for None)."""
    return ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []


BACKEND_CONF = """worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def backend(workdir: Path) -> Nginx:
    """nginx answering every request with a 3-byte body: never the bottleneck."""
    prefix = workdir / "backend"
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (prefix / "nginx.conf").write_text(BACKEND_CONF.format(port=port))
    return Nginx(prefix, port)
