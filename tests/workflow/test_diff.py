"""`apigen diff`: against a bundle directory and a git ref; semantic, unified and summary views."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from apigen.diff.semantic import diff_views, view_payload
from apigen.verify.parse import parse_bundle
from tests.workflow.helpers import REPO, edit, petstore_copy, run, run_json


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    """A private petstore copy and the bundle it builds."""
    policy = petstore_copy(tmp_path)
    bundle = tmp_path / "deployed"
    proc = run("build", policy, "-o", bundle)
    assert proc.returncode == 0, proc.stderr
    return policy, bundle


def test_no_change_exit_0(built: tuple[Path, Path]) -> None:
    policy, bundle = built
    code, doc = run_json("diff", policy, "--against", bundle, "--format", "json")
    assert code == 0
    assert doc["changed"] is False and doc["semantic"] == [] and doc["parse_errors"] == []
    assert doc["files"] == {"added": [], "removed": [], "changed": []}


def test_one_line_policy_change_is_one_semantic_entry(built: tuple[Path, Path]) -> None:
    policy, bundle = built
    edit(policy, "{address: 127.0.0.1:9001, weight: 3}", "{address: 127.0.0.1:9001, weight: 5}")
    code, doc = run_json("diff", policy, "--against", bundle, "--format", "json")
    assert code == 1 and doc["changed"] is True
    assert doc["semantic"] == [
        {
            "change": "changed",
            "context": "upstream pets",
            "directive": "server",
            "old": "127.0.0.1:9001 weight=3 max_fails=3 fail_timeout=10s",
            "new": "127.0.0.1:9001 weight=5 max_fails=3 fail_timeout=10s",
        }
    ]
    assert doc["summary"]["upstreams_changed"] == ["pets"]
    # Every file's header names the policy's digest: the text changed, the meaning did not.
    assert "api_conf.d/pets.conf" in doc["files"]["changed"]
    text = run("diff", policy, "--against", bundle)
    assert text.returncode == 1
    assert "~ upstream pets > server: 127.0.0.1:9001 weight=3" in text.stdout
    assert "1 directive change" in text.stderr


def test_unified_view(built: tuple[Path, Path]) -> None:
    policy, bundle = built
    edit(policy, "read: 30s", "read: 60s")
    proc = run("diff", policy, "--against", bundle, "--view", "unified")
    assert proc.returncode == 1
    assert "--- a/api_conf.d/pets.conf" in proc.stdout
    assert "-        proxy_read_timeout 30s;" in proc.stdout and "+        proxy_read_timeout 60s;" in proc.stdout
    grouped = run("diff", policy, "--against", bundle)
    # The 8 operations share one location (identical settings): one change, one line.
    assert "~ operation pets/listPets: proxy_read_timeout" in grouped.stdout
    assert "proxy_read_timeout: 30s -> 60s" in grouped.stdout


def test_route_added_in_summary(built: tuple[Path, Path]) -> None:
    policy, bundle = built
    edit(policy.parent / "openapi.yaml", "  /pets/mine:\n", "  /pets/new:\n    post:\n      operationId: newPet\n"
         "      responses:\n        201: {description: Created.}\n  /pets/mine:\n")
    code, doc = run_json("diff", policy, "--against", bundle, "--format", "json")
    assert code == 1
    assert doc["summary"]["routes_added"] == ["POST /v1/pets/new"]
    assert doc["summary"]["routes_removed"] == []
    added = {(c["change"], c["directive"]) for c in doc["semantic"]}
    assert ("added", "location = /v1/pets/new") in added
    # newPet renders like the others: it shares their location instead of adding one.
    assert not any(d.startswith("location @apigen_op/") for _, d in added)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=repo,
                   check=True, capture_output=True)


def _commit_then_edit(policy: Path) -> dict:
    """Commit the policy's directory, check it has no change against HEAD, drop its headers
    policy, and return the diff against HEAD (exit 1: a change)."""
    repo = policy.parent
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    code, doc = run_json("diff", policy, "--against-ref", "HEAD", "--format", "json")
    assert code == 0 and doc["semantic"] == []
    edit(policy, "    use: [no-server-header]\n", "    use: []\n")
    code, doc = run_json("diff", policy, "--against-ref", "HEAD", "--format", "json")
    assert code == 1
    return doc


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_against_git_ref(tmp_path: Path) -> None:
    policy = petstore_copy(tmp_path)
    doc = _commit_then_edit(policy)
    # Both sides were compiled here, so the summary names the policy each operation lost.
    changed = doc["summary"]["policies_changed"]
    assert set(changed) == {f"pets.{op}" for op in (
        "createPet", "deletePet", "getInventory", "getPetPhoto", "listMyPets", "listPets", "showPetById", "updatePet")}
    assert changed["pets.listPets"] == {"added": [], "removed": ["no-server-header (headers)"]}
    assert {c["directive"] for c in doc["semantic"]} == {"proxy_hide_header"}
    bad = run("diff", policy, "--against-ref", "no-such-ref")
    assert bad.returncode == 2 and "unknown git ref 'no-such-ref'" in bad.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_against_a_ref_with_symlinks_and_export_attributes(tmp_path: Path) -> None:
    """`git archive` left out `export-ignore` files (the policy "did not exist" at the ref) and
    failed on any symlink of the repository (internal error, exit 3); found by a hunt."""
    policy = petstore_copy(tmp_path)
    repo = policy.parent
    (repo / ".gitattributes").write_text("*.yaml export-ignore\n")
    (repo / "hosts").symlink_to("/etc/hosts")
    (repo / "outside").symlink_to("../../elsewhere.txt")
    # An input that is a symlink inside the repository is kept (a review: "file not found").
    (repo / "openapi.yaml").rename(repo / "openapi.real.yaml")
    (repo / "openapi.yaml").symlink_to("openapi.real.yaml")
    assert {c["directive"] for c in _commit_then_edit(policy)["semantic"]} == {"proxy_hide_header"}


def test_needs_exactly_one_side(built: tuple[Path, Path]) -> None:
    policy, bundle = built
    assert run("diff", policy).returncode == 2
    assert run("diff", policy, "--against", bundle, "--against-ref", "HEAD").returncode == 2


CONF = """\
events {{}}
http {{
    server {{
        listen 8080;
        server_name example.com;
        location ^~ /a/ {{
{locations}
        }}
        location = /x {{
{headers}
            proxy_pass http://127.0.0.1:9;
        }}
    }}
}}
"""
REGEX_1 = '            location ~ "^/a/b$" {{ return 200; }}'
REGEX_2 = '            location ~ "^/a/[^/]+$" {{ return 204; }}'
H1 = "            proxy_set_header A 1;"
H2 = "            proxy_set_header B 2;"


def _views(tmp_path: Path, name: str, locations: list[str], headers: list[str]):
    d = tmp_path / name
    d.mkdir()
    text = CONF.format(locations="\n".join(locations), headers="\n".join(headers)).replace("{{", "{").replace("}}", "}")
    (d / "nginx.conf").write_text(text)
    parsed = parse_bundle(d)
    assert parsed.ok, parsed.errors
    return view_payload(parsed.payload)


def test_order_of_plain_directives_is_ignored_but_regex_location_order_is_not(tmp_path: Path) -> None:
    base = _views(tmp_path, "base", [REGEX_1, REGEX_2], [H1, H2])
    swapped_headers = _views(tmp_path, "headers", [REGEX_1, REGEX_2], [H2, H1])
    assert diff_views(base, swapped_headers) == []
    swapped_regex = _views(tmp_path, "regex", [REGEX_2, REGEX_1], [H1, H2])
    changes = diff_views(base, swapped_regex)
    assert [(c.change, c.directive) for c in changes] == [("reordered", "location ~")]
    assert changes[0].where == "server example.com > location ^~ /a/ > location ~"


@pytest.mark.parametrize("against", ["empty", "/"])
def test_against_a_directory_that_is_no_bundle_is_a_usage_error(tmp_path: Path, against: str) -> None:
    """Exit 2 with a message, never a traceback with exit 1 (which means "changed")."""
    target = tmp_path / "empty" if against == "empty" else Path(against)
    target.mkdir(exist_ok=True)
    proc = run("diff", "examples/petstore/policy.yaml", "--against", target)
    assert proc.returncode == 2, proc.stderr
    assert "is not a bundle (no nginx.conf)" in proc.stderr and "Traceback" not in proc.stderr


def test_secrets_made_readable_are_not_changes(tmp_path: Path) -> None:
    """A deployed copy whose secrets were made group-readable (an artifact extraction, config
    management) is the same bundle: compared by content, whatever the mode (found by a hunt)."""
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "secured", tmp_path / "secured")
    policy, bundle = tmp_path / "secured" / "policy.yaml", tmp_path / "deployed"
    assert run("build", policy, "-o", bundle).returncode == 0
    for path in bundle.rglob("*"):
        path.chmod(path.stat().st_mode | 0o044)
    code, doc = run_json("diff", policy, "--against", bundle, "--format", "json")
    assert (code, doc["files"]["changed"]) == (0, [])
    secret = next(p for p in (bundle / "secrets").iterdir() if p.suffix == ".map")
    secret.write_text(secret.read_text() + "\n")
    code, doc = run_json("diff", policy, "--against", bundle, "--format", "json")
    assert code == 1 and doc["files"]["changed"] == [f"secrets/{secret.name}"]


def test_a_renamed_server_shows_its_changes(built: tuple[Path, Path]) -> None:
    """Found by a hunt: renaming the server showed `- server a` / `+ server b` and hid the other
    changes made inside it."""
    policy, bundle = built
    edit(policy, "server_name: api.example.com", "server_name: api2.example.com")
    edit(policy, "hide: [Server, X-Powered-By]", "hide: [Server]")
    code, doc = run_json("diff", policy, "--against", bundle, "--format", "json")
    assert code == 1
    texts = [" > ".join(c["context"]) + " | " + c["directive"] + " " + (c.get("old") or "") + " -> " + (c.get("new") or "") for c in doc["semantic"]]
    assert any("server_name" in t and "api.example.com" in t and "api2.example.com" in t for t in texts), texts
    assert any("proxy_hide_header" in t and "X-Powered-By" in t for t in texts), texts
    assert not any(c["directive"].startswith("server ") for c in doc["semantic"]), texts


def test_added_and_removed_upstreams_and_files_are_named_so(built: tuple[Path, Path]) -> None:
    """A removed upstream read "~ upstream inv" and removed files "~ file X changed" in the text
    view (found by a hunt)."""
    policy, bundle = built
    edit(policy, "upstreams:\n", "upstreams:\n  extra:\n    servers: [{address: 127.0.0.1:9009}]\n")
    text = run("diff", policy, "--against", bundle).stdout
    assert "+ upstream extra" in text and "~ upstream extra" not in text
    code, doc = run_json("diff", policy, "--against", bundle, "--format", "json")
    assert code == 1 and doc["summary"]["upstreams_added"] == ["extra"] and "extra" not in doc["summary"]["upstreams_changed"]
    # The other way: a bundle with a secret file the new policy no longer has.
    secured = REPO / "examples" / "secured" / "policy.yaml"
    other = bundle.parent / "secured-bundle"
    assert run("build", secured, "-o", other).returncode == 0
    text = run("diff", policy, "--against", other).stdout
    assert "- upstream inventory" in text
    assert "- file secrets/" in text and "changed" not in [line.split()[-1] for line in text.splitlines() if " file " in line]


def test_reordered_spec_paths_are_no_change(built: tuple[Path, Path]) -> None:
    # Shared locations were named by the first operation in document order: reversing the
    # paths renamed them, and the summary said operations were added and removed (a hunt).
    policy, bundle = built
    from ruamel.yaml import YAML

    yaml = YAML()
    spec_path = policy.parent / "openapi.yaml"
    spec = yaml.load(spec_path.read_text())
    items = list(spec["paths"].items())
    for key, _ in items:
        del spec["paths"][key]
    for key, value in reversed(items):
        spec["paths"][key] = value
    with spec_path.open("w") as f:
        yaml.dump(spec, f)
    code, doc = run_json("diff", policy, "--against", bundle, "--format", "json")
    assert (code, doc["semantic"]) == (0, [])
    # Only the headers' input digests differ: the comments naming each location's operations too
    # are in path order.
    unified = run("diff", policy, "--against", bundle, "--view", "unified").stdout
    changed = [line for line in unified.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed and all("openapi.yaml sha256:" in line for line in changed)


def test_a_change_outside_the_nginx_configuration_is_counted(tmp_path: Path) -> None:
    """Found by a hunt: a new JWT issuer changes only the njs configuration; the diff listed the
    file and exited 1, but its last line said "0 directive changes"."""
    shutil.copytree(REPO / "examples" / "secured", tmp_path / "secured")
    policy, bundle = tmp_path / "secured" / "policy.yaml", tmp_path / "deployed"
    assert run("build", policy, "-o", bundle).returncode == 0
    edit(policy, "issuer: https://auth.example.com/", "issuer: https://auth2.example.com/")
    proc = run("diff", policy, "--against", bundle)
    assert proc.returncode == 1
    assert "~ file njs/apigen_auth_config.js changed" in proc.stdout
    assert proc.stderr.strip() == f"{policy}: 1 other file changed against {bundle}", proc.stderr
