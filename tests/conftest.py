"""Shared fixtures: echo backends and nginx instances for live tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests.support` must import however pytest is started (`pytest` alone does not put the repo
# root on sys.path; `python -m pytest` does).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.backend import EchoBackendFactory
from tests.support.nginx import NginxRunner


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live: starts a real nginx and backend processes on 127.0.0.1")


@pytest.fixture
def echo_backend() -> Iterator[EchoBackendFactory]:
    """`echo_backend("users")` starts an echo server process named "users"; all stop at teardown."""
    factory = EchoBackendFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def nginx_runner() -> Iterator[NginxRunner]:
    """`nginx_runner(bundle_dir, port)` returns a started NginxInstance; all stop at teardown."""
    runner = NginxRunner()
    try:
        yield runner
    finally:
        # Printed output is shown by pytest only for failing tests: the error log explains them.
        for instance in runner.instances:
            log = instance.error_log()
            if log:
                print(f"--- nginx error log ({instance.prefix}) ---\n{log[-8000:]}")
        runner.close()
