"""``nginx -t`` inside a container image (e.g. the official ``nginx`` image), when a Docker
engine is reachable. The bundle is copied to a temporary directory mounted at ``/apigen``."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from apigen.verify.localize import include_dir_of, relocate, runtime_dirs
from apigen.verify.nginx_test import NginxTestResult, parse_nginx_output

MOUNT = "/apigen"


class DockerUnavailableError(RuntimeError):
    pass


def docker_available(timeout: float = 15) -> None:
    """Raise DockerUnavailableError with the reason when no engine answers."""
    exe = shutil.which("docker")
    if exe is None:
        raise DockerUnavailableError("the docker client is not installed")
    try:
        proc = subprocess.run([exe, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DockerUnavailableError("`docker info` did not answer (is the engine running?)") from None
    if proc.returncode != 0 or not proc.stdout.strip():
        reason = (proc.stderr or proc.stdout).strip().splitlines()
        raise DockerUnavailableError(f"no Docker engine is reachable: {reason[-1] if reason else 'docker info failed'}")


def run_nginx_t_docker(bundle_dir: Path, image: str, main: str = "nginx.conf", timeout: float = 300) -> NginxTestResult:
    docker_available()
    bundle = Path(bundle_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="apigen-docker-t-") as tmp:
        prefix = Path(tmp) / "bundle"
        shutil.copytree(bundle, prefix, symlinks=True, ignore=lambda d, names: runtime_dirs(bundle, d, names))
        include_dir = include_dir_of(bundle, main)
        if include_dir is not None:  # the copy's files name each other, not the deployed ones
            relocate(prefix, include_dir)
        (prefix / "logs").mkdir(exist_ok=True)
        (prefix / "temp").mkdir(exist_ok=True)
        cmd = ["docker", "run", "--rm", "-v", f"{prefix}:{MOUNT}", image,
               "nginx", "-t", "-q", "-p", f"{MOUNT}/", "-c", f"{MOUNT}/{main}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
    output = (proc.stdout + proc.stderr).replace(MOUNT, str(bundle))
    return NginxTestResult(proc.returncode == 0, output, parse_nginx_output(output, (bundle,)))
