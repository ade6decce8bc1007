"""EchoBackend: the echo server (echo_server.py) in a real separate process."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import final

from .ports import free_port, port_accepts

ECHO_SERVER = Path(__file__).with_name("echo_server.py")

_running: set[EchoBackend] = set()


class BackendError(RuntimeError):
    pass


@final  # lets __enter__ be typed with the class name on Python 3.10 (no typing.Self)
class EchoBackend:
    """One echo server process on 127.0.0.1.

    A real process, so that killing it gives nginx a real refused connection (502) and so that
    it does not share the GIL with the test. `start()` again after `stop()`/`kill()` revives it on
    the same port.
    """

    def __init__(self, name: str = "echo", port: int | None = None) -> None:
        self.name = name
        self.port = port if port is not None else free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = ""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 5.0) -> EchoBackend:
        if self.running:
            return self
        # -I keeps the script's folder off sys.path: tests/support/http.py would shadow stdlib http.
        cmd = [sys.executable, "-I", str(ECHO_SERVER), "--port", str(self.port), "--name", self.name]
        # Output to a file, not a pipe nobody reads (a full pipe would block the server).
        if not self._log:
            fd, self._log = tempfile.mkstemp(prefix=f"echo-{self.name}-", suffix=".log")
            os.close(fd)
        with open(self._log, "ab") as out:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        _running.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BackendError(f"echo backend {self.name!r} exited early:\n{self._output()}")
            if port_accepts(self.port):
                return self
            time.sleep(0.02)
        self.kill()
        raise BackendError(f"echo backend {self.name!r} did not listen on {self.address} in {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        _running.discard(self)
        if self._log:
            Path(self._log).unlink(missing_ok=True)
            self._log = ""

    def kill(self) -> None:
        """SIGKILL: the server vanishes without closing anything, like a crashed backend."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()
        _running.discard(self)

    def _output(self) -> str:
        return Path(self._log).read_text(errors="replace") if self._log else ""

    def __enter__(self) -> EchoBackend:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EchoBackend(name={self.name!r}, port={self.port}, running={self.running})"


class EchoBackendFactory:
    """Starts named backends on demand and stops them all in `close()` (pytest fixture teardown)."""

    def __init__(self) -> None:
        self.backends: list[EchoBackend] = []

    def __call__(self, name: str = "echo", port: int | None = None) -> EchoBackend:
        backend = EchoBackend(name, port)
        self.backends.append(backend)
        return backend.start()

    def many(self, *names: str) -> list[EchoBackend]:
        return [self(name) for name in names]

    def close(self) -> None:
        for backend in self.backends:
            backend.stop()
        self.backends.clear()


@atexit.register
def _stop_leftovers() -> None:
    # A test run interrupted before fixture teardown must not leave servers holding ports.
    for backend in list(_running):
        backend.kill()
