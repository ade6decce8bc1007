"""`$ref`s reach local files only, through apigen's own loader, and messages never quote a file
(found by a hunt: http(s) `$ref`s were fetched, a `$ref` to a key file printed the key, and a
2 MB value made a 2 MB error line)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "bad_inputs"


def _apigen(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apigen", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "APIGEN_CACHE_DIR": str(cwd / ".cache")},
    )


def test_a_remote_ref_is_never_fetched(tmp_path: Path) -> None:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b"S: {type: object}\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        work = tmp_path / "case"
        shutil.copytree(CASES / "spec-ref-remote", work)
        spec = work / "openapi.yaml"
        spec.write_text(spec.read_text().replace("127.0.0.1:9", f"127.0.0.1:{server.server_port}"))
        for command in (["validate", "policy.yaml"], ["lint", "policy.yaml"], ["routes", "policy.yaml"]):
            proc = _apigen(*command, cwd=work)
            assert proc.returncode == 1, (command, proc.stdout, proc.stderr)
            assert "remote references are not supported" in proc.stderr + proc.stdout
        assert hits == []
    finally:
        server.shutdown()


def test_messages_never_quote_a_referenced_file(tmp_path: Path) -> None:
    work = tmp_path / "case"
    shutil.copytree(CASES / "spec-ref-not-a-document", work)
    spec = work / "openapi.yaml"
    original = spec.read_text()
    # Under a response named `default`, a schema named `example`: names, not example data (the
    # first fix skipped them, and the validator quoted the file again; found by a review).
    variants = {
        "as given": original,
        "default response": original.replace('        "200":', "        default:"),
        "schema named example": original.replace('{$ref: "secret.env"}', '{$ref: "#/components/schemas/example"}')
        + 'components:\n  schemas:\n    example: {$ref: "secret.env"}\n',
    }
    for name, text in variants.items():
        spec.write_text(text)
        for command in (["validate", "policy.yaml"], ["lint", "--no-cache", "--format", "sarif", "policy.yaml"]):
            proc = _apigen(*command, cwd=work)
            assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
            assert "hunter2" not in proc.stdout + proc.stderr, (name, command)


def test_long_values_do_not_make_long_messages(tmp_path: Path) -> None:
    work = tmp_path / "case"
    shutil.copytree(CASES / "spec-ref-duplicate-key", work)
    policy = work / "policy.yaml"
    policy.write_text(policy.read_text().replace("  listen: 8080\n", f"  listen: 8080\n  server_name: {'a' * 200_000}\n"))
    proc = _apigen("validate", "policy.yaml", cwd=work)
    assert proc.returncode == 1
    assert max(len(line) for line in proc.stderr.splitlines()) < 1200, len(proc.stderr)


def test_refs_in_example_data_are_never_read_and_host_refs_are_remote(tmp_path: Path) -> None:
    """A `$ref` in example data was still read whole for the validation cache key (`/dev/zero`:
    out of memory), and `//host/x.yaml` was read relative to the working directory (a review)."""
    work = tmp_path / "case"
    shutil.copytree(CASES / "spec-ref-remote", work)
    spec = work / "openapi.yaml"
    spec.write_text(spec.read_text().replace('{$ref: "http://127.0.0.1:9/s.yaml#/S"}', '{type: object, example: {$ref: "/dev/zero"}}'))
    proc = _apigen("validate", "policy.yaml", cwd=work)
    assert proc.returncode == 0, proc.stderr
    spec.write_text(spec.read_text().replace('{type: object, example: {$ref: "/dev/zero"}}', '{$ref: "//elsewhere/s.yaml#/S"}'))
    (work / "elsewhere").mkdir()
    (work / "elsewhere" / "s.yaml").write_text("S: {type: object}\n")
    proc = _apigen("validate", "policy.yaml", cwd=work)
    assert proc.returncode == 1 and "remote references are not supported" in proc.stderr, proc.stderr
