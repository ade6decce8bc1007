"""The `apigen` command line, run as a real subprocess: exit codes, messages, atomic builds."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apigen import __version__
from tests.golden.cases import GOLDEN_DIR, expected_dir, read_tree

REPO = Path(__file__).resolve().parents[2]
PETSTORE = REPO / "examples" / "petstore" / "policy.yaml"
DIAGNOSTIC = re.compile(r"^\S[^:]*:\d+:\d+: (error|warning): .+")


def apigen(*args: str | Path, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    # The checkout's apigen, whatever the cwd (an installed apigen may point elsewhere).
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    full_env = {**os.environ, "PYTHONPATH": python_path, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "apigen", *map(str, args)],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def tree_with_modes(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_version_and_help() -> None:
    proc = apigen("--version")
    assert (proc.returncode, proc.stdout.strip()) == (0, f"apigen, version {__version__}")
    for args in (["--help"], ["-h"], ["build", "--help"], ["validate", "--help"], ["routes", "--help"]):
        proc = apigen(*args)
        assert proc.returncode == 0 and "Usage:" in proc.stdout, args


@pytest.mark.parametrize(
    "args",
    [
        ["build", "examples/petstore/policy.yaml"],  # no -o
        ["validate"],
        ["frobnicate"],
        ["routes", "examples/petstore/policy.yaml", "--format", "xml"],
        ["validate", "examples"],  # a directory
        ["--bogus"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    proc = apigen(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Usage:" in proc.stderr


def test_validate_valid_policy() -> None:
    proc = apigen("validate", "examples/petstore/policy.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "examples/petstore/policy.yaml: valid (1 APIs, 8 operations)" in proc.stderr
    assert apigen("validate", "-q", "examples/petstore/policy.yaml").stderr == ""


BROKEN = {
    "schema": (
        "upstreams: {u: {servers: [{address: '127.0.0.1:1'}]}}\napis:\n  - {name: a, spec: x.yaml, upstream: u, colour: red}\n",
        "policy.yaml:3:42: error: apis/0: unknown key 'colour'",
    ),
    # A schema error and an unknown name: one run reports both (schema errors hid the rest).
    "schema-and-name": (
        "apis:\n  - {name: a, spec: x.yaml, upstream: u, colour: red}\n",
        "policy.yaml:2:39: error: unknown upstream 'u'",
    ),
    "yaml": ("apis: [\n", "policy.yaml:2:1: error: invalid YAML"),
    "empty": ("", "policy.yaml:1:1: error: the policy file is empty"),
    "scalar": ("just text\n", "policy.yaml:1:1: error: the policy file must be a mapping"),
    "missing-spec": (
        "upstreams: {u: {servers: [{address: '127.0.0.1:1'}]}}\napis: [{name: a, spec: nope.yaml, upstream: u}]\n",
        "policy.yaml:2:24: error: spec 'nope.yaml': file not found",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_invalid_input_exits_1_with_positioned_errors(tmp_path: Path, case: str) -> None:
    text, first = BROKEN[case]
    (tmp_path / "policy.yaml").write_text(text)
    for command in (["validate"], ["build", "-o", "out"], ["routes"]):
        proc = apigen(*command, "policy.yaml", cwd=tmp_path)
        assert proc.returncode == 1, (command, proc.stderr)
        lines = proc.stderr.splitlines()
        assert lines[0].startswith(first), proc.stderr
        if case == "schema-and-name":
            assert "policy.yaml:2:42: error: apis/0: unknown key 'colour'" in proc.stderr
        assert DIAGNOSTIC.match(lines[0])
        assert lines[-1].startswith("apigen: ") and "error" in lines[-1]
        assert proc.stdout == ""
    assert not (tmp_path / "out").exists()


def test_unreadable_policy_files_exit_1(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\x00\x01binary")
    (tmp_path / "latin1.yaml").write_bytes(b"apis: caf\xe9\n")
    assert apigen("validate", "missing.yaml", cwd=tmp_path).stderr.startswith("missing.yaml: error: file not found")
    assert "binary file" in apigen("validate", "bin.yaml", cwd=tmp_path).stderr
    proc = apigen("validate", "latin1.yaml", cwd=tmp_path)
    assert proc.returncode == 1 and "not valid UTF-8" in proc.stderr


def test_spec_errors_name_the_spec_file_line(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(
        "upstreams: {u: {servers: [{address: '127.0.0.1:1'}]}}\napis: [{name: a, spec: spec.yaml, upstream: u}]\n"
    )
    (tmp_path / "spec.yaml").write_text("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get: {responses: {200: {descriptio: x}}}\n")
    proc = apigen("validate", "policy.yaml", cwd=tmp_path)
    assert proc.returncode == 1
    assert any(line.startswith("spec.yaml:5:") and ": error: invalid OpenAPI 3.0 document" in line for line in proc.stderr.splitlines()), proc.stderr


def test_spec_errors_are_named_from_where_the_policy_was_named(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "policy.yaml").write_text(
        "upstreams: {u: {servers: [{address: '127.0.0.1:1'}]}}\napis: [{name: a, spec: ../specs/s.yaml, upstream: u}]\n"
    )
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "s.yaml").write_text("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get: {}\n")
    proc = apigen("validate", "conf/policy.yaml", cwd=tmp_path)
    assert proc.returncode == 1
    # The quotes around `responses` depend on openapi-spec-validator's schema backend.
    assert re.match(
        r"specs/s\.yaml:5:10: error: invalid OpenAPI 3\.0 document: paths > /a > get: "
        r"[\"']responses[\"'] is a required property",
        proc.stderr,
    ), proc.stderr
    assert len(proc.stderr.splitlines()) == 2  # the message, then the count


def test_the_error_count_is_the_number_of_errors_printed(tmp_path: Path) -> None:
    # A spec two APIs name is validated for each: its error was printed once, counted twice
    # ("apigen: 3 errors" under two lines; found by a hunt).
    (tmp_path / "policy.yaml").write_text(
        "upstreams: {u: {servers: [{address: '127.0.0.1:1'}]}}\napis:\n"
        "  - {name: a, spec: spec.yaml, upstream: u, base_path: /a}\n"
        "  - {name: b, spec: spec.yaml, upstream: u, base_path: /b}\n"
        "  - {name: c, spec: spec.yaml, upstream: nope, base_path: /c}\n"
    )
    (tmp_path / "spec.yaml").write_text("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get: {}\n")
    for command in (["validate"], ["build", "-o", str(tmp_path / "out")]):
        proc = apigen(*command, "policy.yaml", cwd=tmp_path)
        assert proc.returncode == 1
        errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
        assert len(errors) == 2, proc.stderr
        assert proc.stderr.splitlines()[-1] == "apigen: 2 errors", proc.stderr


def test_build_writes_the_golden_bundle(tmp_path: Path) -> None:
    proc = apigen("build", PETSTORE, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "wrote 6 files" in proc.stderr
    assert read_tree(tmp_path / "out") == read_tree(expected_dir("petstore"))
    assert (tmp_path / "out" / "logs").is_dir() and (tmp_path / "out" / "temp").is_dir()


def test_failed_build_leaves_previous_output_untouched(tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(GOLDEN_DIR / "multi-api", case, ignore=shutil.ignore_patterns("expected"))
    out = tmp_path / "out"
    assert apigen("build", case / "policy.yaml", "-o", out).returncode == 0
    (out / "extra.txt").write_text("user file")  # a build replaces the whole directory
    before = tree_with_modes(out)
    siblings = sorted(p.name for p in tmp_path.iterdir())

    # Broken spec: validation fails, nothing is written.
    spec = case / "specs" / "orders.json"
    good = spec.read_text()
    spec.write_text(good.replace('"paths"', '"pathz"'))
    proc = apigen("build", case / "policy.yaml", "-o", out)
    assert proc.returncode == 1 and "error" in proc.stderr
    assert tree_with_modes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings  # no temporary directories left

    # A good build replaces the directory as a whole.
    spec.write_text(good)
    assert apigen("build", case / "policy.yaml", "-o", out).returncode == 0
    assert not (out / "extra.txt").exists()
    assert read_tree(out) == read_tree(expected_dir("multi-api"))
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings


def test_failed_build_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("apis: []\n")
    proc = apigen("build", "policy.yaml", "-o", "new/out", cwd=tmp_path)
    assert proc.returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.yaml"]


def test_unwritable_output_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    proc = apigen("build", PETSTORE, "-o", tmp_path / "file" / "out")
    assert proc.returncode == 1
    assert "error: cannot write the bundle" in proc.stderr


def test_routes_text_and_json() -> None:
    text = apigen("routes", PETSTORE)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["METHOD", "PATH", "OPERATION", "LOCATION", "UPSTREAM", "POLICIES"]
    policies = "no-server-header(headers)@api"
    assert lines[1].split() == ["GET", "/v1/pets", "listPets", "=", "/v1/pets", "pets", policies]
    row = ["GET", "/v1/pets/{petId}", "showPetById", "^~", "/v1/pets/", ">", "~", "^/v1/pets/[^/]+$", "pets", policies]
    assert row in [line.split() for line in lines]
    assert len(lines) == 1 + 8

    proc = apigen("routes", PETSTORE, "--format", "json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    assert len(rows) == 8
    assert {k: rows[0][k] for k in ("method", "path", "api", "operation", "location", "upstream")} == {
        "method": "GET",
        "path": "/v1/pets",
        "api": "pets",
        "operation": "listPets",
        "location": "= /v1/pets",
        "upstream": "pets",
    }
    # Operations whose locations would be identical share one (see _share_locations).
    assert rows[0]["internal_location"] == "@apigen_op/pets/listPets"
    assert [(p["name"], p["kind"], p["level"]) for p in rows[0]["policies"]] == [("no-server-header", "headers", "api")]
    assert {r["operation"] for r in rows} >= {"getPetPhoto", "listMyPets", "deletePet"}


def test_routes_shows_operation_upstream_overrides() -> None:
    proc = apigen("routes", GOLDEN_DIR / "multi-api" / "policy.yaml", "--format", "json")
    rows = {r["operation"]: r for r in json.loads(proc.stdout)}
    assert rows["getOrderJson"]["upstream"] == "users"
    assert rows["getReport"]["upstream"] == "reports"
    assert rows["listOrders"]["upstream"] == "orders"


@pytest.mark.parametrize("policy", [PETSTORE, GOLDEN_DIR / "multi-api" / "policy.yaml"])
def test_builds_are_byte_identical_across_hash_seeds(tmp_path: Path, policy: Path) -> None:
    trees = []
    for seed in ("1", "2", "12345"):
        out = tmp_path / f"out-{seed}"
        proc = apigen("build", policy, "-o", out, env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        trees.append(read_tree(out))
    assert trees[0] == trees[1] == trees[2]


@pytest.mark.parametrize(
    ("name", "env"),
    [
        (os.fsdecode(b"sp\xe9c"), {}),  # a directory name that is not UTF-8
        ("spéc", {"LC_ALL": "C", "PYTHONUTF8": "0"}),  # a non-ASCII name under an ASCII locale
    ],
)
def test_builds_from_directories_with_non_utf8_or_non_ascii_names(tmp_path: Path, name: str, env: dict[str, str]) -> None:
    # The spec's file:// URI is percent-encoded file-name bytes: decoded as UTF-8 text, the
    # first was "spec 'openapi.yaml': file not found" (exit 1), the second an internal error.
    expected = apigen("build", PETSTORE, "-o", tmp_path / "expected")
    assert expected.returncode == 0, expected.stderr
    copy = tmp_path / name / "petstore"
    shutil.copytree(PETSTORE.parent, copy)
    proc = apigen("build", "policy.yaml", "-o", tmp_path / "out", env=env, cwd=copy)
    assert proc.returncode == 0, proc.stderr
    assert read_tree(tmp_path / "out") == read_tree(tmp_path / "expected")
    # and a spec error there is reported at its line, with the name as it was given
    spec = copy / "openapi.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("openapi: 3.0.3", "openapi: 3.0.3\nbogus: 1", 1), encoding="utf-8")
    proc = apigen("validate", "policy.yaml", env=env, cwd=copy)
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"^openapi\.yaml:2:1: error: .*bogus", proc.stderr, re.M), proc.stderr
