"""Rebuilding a bundle into the directory a running nginx uses as its prefix (the README's way:
`nginx -p <bundle>/`, `apigen build` again, `nginx -s reload`): the base workspace built into
``out``, and waiting for the nginx started on it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from apigen import cli
from tests.support.workspace import base_inputs, write_workspace

# A route the second build adds: it answers only once the rebuilt configuration is running.
EXTRA_PATH = "/items/{id}/tags"


def build_base(
    tmp: Path, out: Path, port: int, backend: str, *, extra_route: bool, name: str, edit: Callable[[dict[str, Any]], None] | None = None
) -> None:
    """The base workspace (plain HTTP on ``port``, its upstream at ``backend``), with the
    policy changed by ``edit`` and, with ``extra_route``, :data:`EXTRA_PATH` added, built into
    ``out`` from the workspace ``tmp / name``."""
    policy, spec = base_inputs()
    policy["gateway"]["listen"] = f"127.0.0.1:{port}"
    del policy["gateway"]["tls"]
    policy["upstreams"]["main"]["servers"][0]["address"] = backend
    if edit is not None:
        edit(policy)
    if extra_route:
        spec["paths"][EXTRA_PATH] = {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "listItemTags", "responses": {"200": {"description": "ok"}}},
        }
    result = CliRunner().invoke(cli.main, ["build", str(write_workspace(tmp / name, policy, spec)), "-o", str(out)])
    assert result.exit_code == 0, result.output


def wait_until_answering(probe: Callable[[], int], master: subprocess.Popen, timeout: float = 10) -> None:
    """Until ``probe`` (a request) answers 200; fails if the nginx ``master`` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            assert probe() == 200
            return
        except OSError:
            assert master.poll() is None and time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
