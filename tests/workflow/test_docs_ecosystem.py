"""The generated policy reference matches the schema; the pre-commit hooks, CI example and
Dockerfiles are well-formed and point at what exists."""

from __future__ import annotations

import json
import re

import yaml

from apigen.docs import generate
from apigen.resources import schema_path
from tests.workflow.helpers import REPO, run

REFERENCE = REPO / "docs" / "policy-reference.md"


def test_committed_policy_reference_matches_the_schema() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == generate(), (
        "docs/policy-reference.md is stale: run `python -m apigen.docs -o docs/policy-reference.md`"
    )


def test_reference_covers_every_key_and_definition() -> None:
    schema = json.loads(schema_path().read_text())
    text = generate()
    for key in schema["properties"]:
        assert f"| `{key}` |" in text
    for name in schema["$defs"]:
        assert f'<a id="def-{name.replace("_", "-").lower()}"></a>' in text
    for kind in schema["$defs"]["policy"]["properties"]["kind"]["enum"]:
        assert f"| `{kind}` |" in text


def test_schema_docs_command_check_and_stdout(tmp_path) -> None:
    assert run("schema-docs", "--check", "docs/policy-reference.md").returncode == 0
    stale = tmp_path / "ref.md"
    stale.write_text("old\n")
    proc = run("schema-docs", "--check", stale)
    assert proc.returncode == 1 and "stale" in proc.stderr
    out = run("schema-docs")
    assert out.returncode == 0 and out.stdout == generate()
    module = run("schema-docs", "-o", tmp_path / "new.md")
    assert module.returncode == 0 and (tmp_path / "new.md").read_text() == generate()


def test_pre_commit_hooks() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    ids = {h["id"] for h in hooks}
    assert {"apigen-lint", "apigen-lint-strict", "apigen-schema-docs"} <= ids
    for hook in hooks:
        assert hook["entry"].startswith("apigen ") and hook["language"] == "python"
        re.compile(hook["files"])
    lint = next(h for h in hooks if h["id"] == "apigen-lint")
    assert re.search(lint["files"], "examples/petstore/policy.yaml")


def test_github_actions_example() -> None:
    wf = yaml.safe_load((REPO / "examples" / "ci" / "github-actions.yml").read_text())
    steps = wf["jobs"]["gateway"]["steps"]
    commands = "\n".join(s.get("run", "") for s in steps)
    for needed in ("apigen lint", "--format sarif", "apigen build", "apigen check", "apigen diff", "--against-ref"):
        assert needed in commands
    uses = {s.get("uses", "").split("@")[0] for s in steps}
    assert {"github/codeql-action/upload-sarif", "actions/upload-artifact"} <= uses


def test_dockerfiles_copy_what_exists() -> None:
    for name in ("apigen.Dockerfile", "nginx.Dockerfile"):
        text = (REPO / "docker" / name).read_text()
        for m in re.finditer(r"^COPY (?!--from)(.+) \S+$", text, re.M):
            for src in m.group(1).split():
                assert (REPO / src).exists(), f"{name}: COPY {src}"
    nginx = (REPO / "docker" / "nginx.Dockerfile").read_text()
    assert "nginx -t -p /etc/apigen/" in nginx and "apigen build" in nginx


def test_examples_reference_the_schema_for_editors() -> None:
    first = (REPO / "examples" / "petstore" / "policy.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/policy.schema.json"


def test_colour_only_on_a_terminal(tmp_path) -> None:
    import os
    import pty
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["APIGEN_CACHE_DIR"] = str(tmp_path)
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "apigen", "lint", "examples/petstore/policy.yaml"], cwd=REPO,
                              stdout=secondary, stderr=subprocess.PIPE, env=env, timeout=120, check=False)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
    out = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert "\x1b[33mwarning\x1b[0m" in out
    plain = run("lint", "examples/petstore/policy.yaml", env={"APIGEN_CACHE_DIR": str(tmp_path)})
    assert "\x1b[" not in plain.stdout
    no_colour = subprocess.run([sys.executable, "-m", "apigen", "lint", "--list-rules"], cwd=REPO,
                               capture_output=True, text=True, env={**env, "NO_COLOR": "1"}, check=False)
    assert "\x1b[" not in no_colour.stdout
