"""NginxInstance: runs a compiled bundle directory with a private nginx on 127.0.0.1."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import final

import pytest

from .ports import port_accepts

_running: set[NginxInstance] = set()


class NginxError(RuntimeError):
    pass


def nginx_binary() -> str | None:
    """`$APIGEN_NGINX`, else nginx on PATH, else Debian's /usr/sbin/nginx (not on a user's PATH)."""
    env = os.environ.get("APIGEN_NGINX")
    if env:
        return env
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def nginx_available() -> bool:
    return nginx_binary() is not None


# In CI nginx is installed by .ci/run, so a missing binary there must fail loudly, not skip.
requires_nginx = pytest.mark.skipif(
    not nginx_available() and not os.environ.get("CI"), reason="no nginx binary (set APIGEN_NGINX)"
)


def _children(pid: int) -> set[int]:
    """PIDs whose parent is pid (nginx workers, cache manager) from /proc."""
    kids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.add(int(entry))
    return kids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it has exited for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if not p.is_dir()}


@final  # lets __enter__ be typed with the class name on Python 3.10 (no typing.Self)
class NginxInstance:
    """A bundle copied into a fresh prefix dir and served by `nginx -g 'daemon off;'`.

    The bundle's relative `pid`, `error_log`, `access_log`, `*_temp_path` and `include` paths
    resolve against the prefix, so each instance is isolated and needs no root.
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike[str],
        port: int,
        *,
        error_log_name: str = "logs/error.log",
        nginx_bin: str | None = None,
        keep_secret_modes: bool = False,
    ) -> None:
        self.bundle_dir = Path(bundle_dir)
        # Secrets (mode 0600) stay unreadable to the workers, as in a real deployment.
        self.keep_secret_modes = keep_secret_modes
        self.port = port
        self.nginx_bin = nginx_bin or nginx_binary() or "nginx"
        # Not under pytest's tmp_path: its parents are mode 0700, and nginx run as root drops its
        # workers to `nobody`, which must reach temp/ (request bodies) in the prefix.
        self.prefix = Path(tempfile.mkdtemp(prefix="apigen-nginx-"))
        self.prefix.chmod(0o755)
        self.error_log_path = self.prefix / error_log_name
        self._bundle_files: set[Path] = set()
        self._proc: subprocess.Popen[bytes] | None = None
        self._install(self.bundle_dir)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _install(self, bundle_dir: Path) -> None:
        new_files = _files(bundle_dir)
        # Files of the previous bundle that the new one dropped would still match `include *.conf`.
        for stale in self._bundle_files - new_files:
            (self.prefix / stale).unlink(missing_ok=True)
        shutil.copytree(bundle_dir, self.prefix, dirs_exist_ok=True)
        self._bundle_files = new_files
        for sub in ("logs", "temp"):
            (self.prefix / sub).mkdir(exist_ok=True)
        # Workers (`nobody` under root) read some bundle files at request time (htpasswd, static).
        for rel in new_files:
            secret = (bundle_dir / rel).stat().st_mode & 0o077 == 0
            if not (secret and self.keep_secret_modes):
                (self.prefix / rel).chmod(0o644)
            for parent in rel.parents:  # ends with ".", the prefix itself
                (self.prefix / parent).chmod(0o755)

    def _args(self, *extra: str) -> list[str]:
        return [
            self.nginx_bin,
            "-p", f"{self.prefix}/",
            "-c", str(self.prefix / "nginx.conf"),
            "-e", str(self.prefix / "logs" / "error.log"),
            "-g", "daemon off;",
            *extra,
        ]  # fmt: skip

    def test_config(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the files now in the prefix."""
        return subprocess.run(self._args("-t"), check=False, capture_output=True, text=True, timeout=30)

    def start(self, timeout: float = 10.0) -> NginxInstance:
        if self.running:
            return self
        with open(self.prefix / "logs" / "nginx.out", "ab") as out:
            self._proc = subprocess.Popen(self._args(), stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        _running.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                _running.discard(self)
                raise NginxError(f"nginx exited at start (code {code}):\n{self._diagnostics()}")
            if port_accepts(self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise NginxError(f"nginx did not listen on {self.address} in {timeout}s:\n{self._diagnostics()}")

    def reload(
        self,
        new_bundle_dir: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 10.0,
        wait_old_workers: bool = True,
    ) -> None:
        """Install the new bundle (if given), check it with `nginx -t`, HUP the master, and wait
        until new workers run (and, by default, the old ones have exited so no request can
        still reach the old config). A config that fails `nginx -t` raises and is not signalled,
        so the running nginx keeps its old config."""
        if not self.running or self._proc is None:
            raise NginxError("nginx is not running")
        if new_bundle_dir is not None:
            self.bundle_dir = Path(new_bundle_dir)
            self._install(self.bundle_dir)
        check = self.test_config()
        if check.returncode != 0:
            raise NginxError(f"new config fails nginx -t:\n{check.stderr}")
        master = self._proc.pid
        old = _children(master)
        log_offset = self._log_size()
        self._proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = _children(master) - old
            if new and (not wait_old_workers or not any(_alive(p) for p in old)):
                return
            if "[emerg]" in self._read_log(log_offset):
                raise NginxError(f"nginx rejected the reload:\n{self._read_log(log_offset)}")
            if self._proc.poll() is not None:
                raise NginxError(f"nginx died during reload:\n{self._diagnostics()}")
            time.sleep(0.02)
        raise NginxError(f"reload not complete in {timeout}s:\n{self._read_log(log_offset)}")

    def stop(self, timeout: float = 5.0) -> None:
        """Graceful QUIT, then TERM, then KILL; also kills workers orphaned by a killed master."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            workers = _children(proc.pid)
            for sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL):
                proc.send_signal(sig)
                try:
                    proc.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
            for pid in workers:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        self._proc = None
        _running.discard(self)

    def cleanup(self) -> None:
        """Stop and delete the prefix dir."""
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def _log_size(self) -> int:
        try:
            return self.error_log_path.stat().st_size
        except OSError:
            return 0

    def _read_log(self, offset: int = 0) -> str:
        try:
            with open(self.error_log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _diagnostics(self) -> str:
        out = self.prefix / "logs" / "nginx.out"
        text = out.read_text(errors="replace") if out.exists() else ""
        return f"{text}{self.error_log()}"

    def error_log(self) -> str:
        return self._read_log()

    def access_log_lines(self, name: str = "logs/access.log") -> list[str]:
        path = self.prefix / name
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def wait_for_log_line(self, substring: str, name: str = "logs/access.log", timeout: float = 2.0) -> str:
        """The first line of log `name` containing substring, waiting for it: nginx writes the
        access log after the response has gone out, so a client can read the answer first."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.access_log_lines(name)
            for line in lines:
                if substring in line:
                    return line
            if time.monotonic() > deadline:
                tail = "\n".join(lines[-20:])
                raise NginxError(f"no line with {substring!r} in {name} after {timeout}s; last lines:\n{tail}")
            time.sleep(0.02)

    def __enter__(self) -> NginxInstance:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"NginxInstance(prefix={str(self.prefix)!r}, port={self.port}, running={self.running})"


class NginxRunner:
    """Factory behind the `nginx_runner` fixture: starts instances, cleans them all up at the end."""

    def __init__(self) -> None:
        self.instances: list[NginxInstance] = []

    def __call__(
        self,
        bundle_dir: str | os.PathLike[str],
        port: int,
        *,
        error_log_name: str = "logs/error.log",
        nginx_bin: str | None = None,
        keep_secret_modes: bool = False,
    ) -> NginxInstance:
        instance = NginxInstance(
            bundle_dir, port, error_log_name=error_log_name, nginx_bin=nginx_bin, keep_secret_modes=keep_secret_modes
        )
        self.instances.append(instance)
        return instance.start()

    def close(self) -> None:
        for instance in self.instances:
            instance.cleanup()
        self.instances.clear()


@atexit.register
def _stop_leftovers() -> None:
    for instance in list(_running):
        instance.stop(timeout=1.0)
