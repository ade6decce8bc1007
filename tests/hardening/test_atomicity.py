"""A build that fails at any stage, or is interrupted while writing, leaves the previous output
exactly as it was (contents, modes, no extra files), and leaves no temporary directory behind
unless the process itself was killed. A build replaces only a previous bundle (or an empty
directory), never someone's other files, and keeps the previous bundle's logs/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from apigen import bundle as bundle_module
from apigen import cli
from apigen.bundle import GENERATED_MARK, Bundle, write_atomic
from apigen.diagnostics import CompileError, Diagnostics
from apigen.pipeline import compile_policy

REPO = Path(__file__).resolve().parents[2]
PETSTORE = REPO / "examples" / "petstore" / "policy.yaml"


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o777)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Path, dict]:
    """An output directory holding a previous bundle (with a secret-mode file)."""
    out = tmp_path / "out" / "bundle"
    (out / "secrets").mkdir(parents=True)
    (out / "nginx.conf").write_text(GENERATED_MARK + "0.0.1 (previous)\n")
    (out / "secrets" / "k.pem").write_text("old key\n")
    (out / "secrets" / "k.pem").chmod(0o600)
    return out, tree(out)


def _unchanged(out: Path, before: dict) -> None:
    assert tree(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name], "temporary directories left behind"


def _new_bundle() -> Bundle:
    result = compile_policy(PETSTORE)
    assert result.bundle is not None and len(result.bundle.files) > 3
    return result.bundle


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_writer_failing_midway(previous, monkeypatch, exc) -> None:
    out, before = previous
    real_open = open
    calls = {"n": 0}

    def failing_open(path, mode="r", *a, **kw):  # the third file written fails
        if "w" in mode or "x" in mode:
            calls["n"] += 1
            if calls["n"] == 3:
                raise exc
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(type(exc)):
        write_atomic(_new_bundle(), out)
    assert calls["n"] == 3, "the writer did not get as far as the injected failure"
    _unchanged(out, before)


@pytest.mark.parametrize(
    ("which", "logs"),
    [(1, False), (2, False), (2, True), (3, True)],
    ids=["aside", "in", "logs-over", "in-after-logs"],
)
def test_rename_failing(previous, monkeypatch, which: int, logs: bool) -> None:
    """The n-th rename fails. Without logs/: 1 moving the previous bundle aside, 2 moving the new
    one in (then the previous one must be moved back). With logs/: 2 moving the logs into the new
    bundle, 3 moving the new bundle in (the logs must go back to the previous bundle too)."""
    out, before = previous
    if logs:
        (out / "logs").mkdir()
        (out / "logs" / "error.log").write_text("old\n")
        before = tree(out)
    real_rename = os.rename
    calls = {"n": 0}

    def failing_rename(src, dst):
        calls["n"] += 1
        if calls["n"] == which:
            raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(bundle_module, "_exchange", lambda a, b: False)  # the two-rename swap
    monkeypatch.setattr(bundle_module.os, "rename", failing_rename)
    with pytest.raises(OSError):
        write_atomic(_new_bundle(), out)
    assert calls["n"] >= which
    _unchanged(out, before)


_EXCHANGE = bundle_module._renameat2() is not None


@pytest.mark.skipif(not _EXCHANGE, reason="no renameat2(RENAME_EXCHANGE) here")
@pytest.mark.parametrize("fails", ["exchange", "logs"])
def test_exchange_swap_failing(previous, monkeypatch, fails: str) -> None:
    """The atomic exchange fails, or moving the logs into the exchanged-in bundle does: the
    previous bundle is back in place with its logs, nothing left behind."""
    out, before = previous
    (out / "logs").mkdir()
    (out / "logs" / "error.log").write_text("old\n")
    before = tree(out)
    if fails == "exchange":
        def failing_exchange(a, b):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(bundle_module, "_exchange", failing_exchange)
    else:
        def failing_rename(src, dst):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(bundle_module.os, "rename", failing_rename)
    with pytest.raises(OSError):
        write_atomic(_new_bundle(), out)
    _unchanged(out, before)


_KILLED_IN_THE_SWAP = """
import os, signal, sys
from pathlib import Path
from apigen import bundle
from apigen.pipeline import compile_policy
def killed(src, dst, moved):
    os.kill(os.getpid(), signal.SIGKILL)
bundle._move_kept = killed
bundle.write_atomic(compile_policy(Path(sys.argv[1])).bundle, Path(sys.argv[2]))
"""


@pytest.mark.skipif(not _EXCHANGE, reason="no renameat2(RENAME_EXCHANGE) here")
def test_killed_in_the_middle_of_the_swap(previous) -> None:
    """SIGKILL (not holdable) right after the previous bundle left its place: the output
    directory is still a complete bundle, the new one. With two renames it was absent, the
    previous bundle hidden in `.bundle.old-*` (found by a hunt)."""
    out, _ = previous
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_IN_THE_SWAP, str(PETSTORE), str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL
    assert out.is_dir()
    new = _new_bundle()
    assert {path: text.encode() for path, text in new} == {p: b for p, (b, _) in tree(out).items()}


def test_verify_failing(previous) -> None:
    out, before = previous

    def verify(tmp: Path) -> None:
        assert (tmp / "nginx.conf").is_file()  # the new bundle was fully written first
        diags = Diagnostics()
        diags.error("generated configuration does not parse")
        raise CompileError(diags)

    with pytest.raises(CompileError):
        write_atomic(_new_bundle(), out, verify=verify)
    _unchanged(out, before)


@pytest.mark.parametrize("stage", ["apigen.pipeline.render_plan", "apigen.pipeline.make_plan"])
def test_internal_error_in_a_stage_through_the_cli(previous, monkeypatch, stage: str) -> None:
    out, before = previous

    def boom(*a, **kw):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(stage, boom)
    result = CliRunner().invoke(cli.main, ["build", str(PETSTORE), "-o", str(out)])
    assert result.exit_code == 3, result.output
    _unchanged(out, before)


def test_success_replaces_everything(previous) -> None:
    out, before = previous
    write_atomic(_new_bundle(), out)
    after = tree(out)
    assert "secrets/k.pem" not in after and "nginx.conf" in after
    assert after["nginx.conf"] != before["nginx.conf"]
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


_SLOW_WRITER = """
import sys, time
from pathlib import Path
from apigen.bundle import Bundle, write_atomic
from apigen.pipeline import compile_policy
real = Bundle.write_tree
def slow(self, root):
    first = dict(list(self.files.items())[:1])
    real(Bundle(first), root)
    print("WRITING", flush=True)
    time.sleep(60)
Bundle.write_tree = slow
write_atomic(compile_policy(Path(sys.argv[1])).bundle, Path(sys.argv[2]))
"""


def test_killed_while_writing(previous) -> None:
    """SIGKILL in the middle of writing: the previous bundle is still in place; only the sibling
    temporary directory (`.bundle.new-*`) remains, which the next build ignores."""
    out, before = previous
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(PETSTORE), str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "WRITING"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert tree(out) == before
    stale = [p.name for p in out.parent.iterdir() if p.name != out.name]
    assert all(name.startswith(".bundle.new-") for name in stale), stale
    write_atomic(_new_bundle(), out)  # the next build still works
    assert "secrets/k.pem" not in tree(out)


_SLOW_CLI = """
import sys, time
from apigen.bundle import Bundle
from apigen.cli import main
real = Bundle.write_tree
def slow(self, root):
    first = dict(list(self.files.items())[:1])
    real(Bundle(first), root)
    print("WRITING", flush=True)
    time.sleep(60)
Bundle.write_tree = slow
main(["build", sys.argv[1], "-o", sys.argv[2]])
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_writing_cleans_up(previous, sig: signal.Signals) -> None:
    """SIGINT, SIGTERM or SIGHUP in the middle of `apigen build`: the previous bundle stays, the
    temporary directory is removed, the exit code is 128+N and no traceback is printed (found
    by a hunt: SIGTERM left the temporary directory behind)."""
    out, before = previous
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CLI, str(PETSTORE), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "WRITING"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err
    assert f"interrupted ({sig.name})" in err and "Traceback" not in err
    assert tree(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_concurrent_builds_into_one_directory(previous, monkeypatch) -> None:
    """Two builds into one directory reach the swap together: both succeed, one after the
    other, and the result is one complete bundle with no temporary directory left (found by a
    hunt: interleaved renames failed a build with the previous bundle moved aside). The window
    between the two renames of a swap is widened so that, unserialized, they would interleave."""
    import threading
    import time

    out, _ = previous
    together = threading.Barrier(2)
    real_move = bundle_module._move_kept

    def slow_move(src: Path, dst: Path, moved: list[str]) -> None:
        time.sleep(0.3)
        real_move(src, dst, moved)

    monkeypatch.setattr(bundle_module, "_move_kept", slow_move)
    bundles = [_new_bundle(), _new_bundle()]
    errors: list[BaseException] = []

    def build(b: Bundle) -> None:
        try:
            write_atomic(b, out, verify=lambda _tmp: together.wait(timeout=10))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(b,)) for b in bundles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert tree(out).keys() >= {"nginx.conf", "api_gateway.conf"}
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


_RACING_CLI = """
import os, sys, time
from pathlib import Path
from apigen import bundle, verify_bundle
from apigen.cli import main
barrier = Path(sys.argv[3])

def together(tmp):
    # Both builds have written their bundle: they reach the swap at the same moment.
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + 30
    while len(list(barrier.iterdir())) < int(sys.argv[4]) and time.monotonic() < deadline:
        time.sleep(0.01)

real_move = bundle._move_kept
def slow_move(src, dst, moved):
    # Between moving the previous bundle aside and moving the new one in: wide enough that
    # unserialized swaps interleave.
    time.sleep(0.5)
    real_move(src, dst, moved)

verify_bundle.verify_written_bundle = lambda result: together
bundle._move_kept = slow_move
main(["build", sys.argv[1], "-o", sys.argv[2]])
"""


@pytest.mark.parametrize("n", [2, 3])
def test_concurrent_build_processes_leave_one_complete_bundle(previous, tmp_path: Path, n: int) -> None:
    """``n`` `apigen build -o DIR` processes swap at the same moment: all succeed (the lock file
    beside DIR serializes them; with three, two wait on a lock file the first one removes) and
    DIR is one complete bundle, byte-for-byte what a build writes, with nothing else left
    beside it (found by a hunt: interleaved renames failed one build with the previous bundle
    moved aside)."""
    out, _ = previous
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "APIGEN_NO_CACHE": "1"}
    cmd = [sys.executable, "-c", _RACING_CLI, str(PETSTORE), str(out), str(barrier), str(n)]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env) for _ in range(n)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * n, errs
    assert len(list(barrier.iterdir())) == n, "the builds did not reach the swap together"
    reference = tmp_path / "reference"
    _new_bundle().write_tree(reference)
    assert tree(out) == tree(reference)
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_a_waiter_on_a_removed_lock_file_locks_anew(tmp_path: Path, monkeypatch) -> None:
    """The holder removes the lock file before releasing it. B waits on that file; C comes after
    the removal and locks a new file: when B gets the removed file's lock, it must see that the
    path no longer names it and wait for C, not swap at the same time as C."""
    import threading
    import time

    out = tmp_path / "out"
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    a_in, c_in = threading.Event(), threading.Event()

    def fake_swap(tmp: Path, out_dir: Path, parent: Path) -> None:
        name = threading.current_thread().name
        inside.append(name)
        if len(inside) > 1:
            overlaps.append(tuple(inside))
        {"A": a_in, "C": c_in}.get(name, threading.Event()).set()
        time.sleep(0.4 if name == "A" else 0.2)  # A: long enough for B to block on the lock
        inside.remove(name)

    real_unlink = os.unlink

    def unlink(path, *a, **kw) -> None:
        real_unlink(path, *a, **kw)
        if threading.current_thread().name == "A":  # A has removed the file, still holds it
            threads.append(threading.Thread(target=build, name="C"))
            threads[-1].start()
            assert c_in.wait(5)

    def build() -> None:
        b = Bundle()
        b.add("nginx.conf", "events {}\n")
        write_atomic(b, out)

    monkeypatch.setattr(bundle_module, "_swap", fake_swap)
    monkeypatch.setattr(bundle_module.os, "unlink", unlink)
    threads = [threading.Thread(target=build, name="A")]
    threads[0].start()
    assert a_in.wait(10)
    threads.append(threading.Thread(target=build, name="B"))
    threads[-1].start()
    for t in list(threads):
        t.join(timeout=20)
    for t in threads:
        t.join(timeout=20)
    assert len(threads) == 3 and not any(t.is_alive() for t in threads)
    assert overlaps == []


def test_the_lock_file_is_beside_the_output_directory(previous, monkeypatch) -> None:
    out, _ = previous
    seen: list[list[str]] = []
    real_swap = bundle_module._swap

    def swap(tmp: Path, out_dir: Path, parent: Path) -> None:
        seen.append(sorted(p.name for p in parent.iterdir() if not p.name.startswith(f".{out.name}.new-")))
        real_swap(tmp, out_dir, parent)

    monkeypatch.setattr(bundle_module, "_swap", swap)
    write_atomic(_new_bundle(), out)
    assert seen == [[f".{out.name}.lock", out.name]]
    assert not (out / f".{out.name}.lock").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # removed after the swap


def test_bundle_directories_ignore_the_umask(tmp_path: Path) -> None:
    """Found by a hunt: with umask 077 the include directories were 0700, unreadable to nginx
    workers running as another user."""
    old = os.umask(0o077)
    try:
        write_atomic(_new_bundle(), tmp_path / "out")
    finally:
        os.umask(old)
    modes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777 for p in (tmp_path / "out").rglob("*")}
    assert modes and all(m == 0o755 for p, m in modes.items() if (tmp_path / p).is_dir()), modes
    assert all(m in (0o644, 0o600) for p, m in modes.items() if (tmp_path / p).is_file()), modes


def test_secrets_are_never_wider_than_0600_while_written(tmp_path: Path, monkeypatch) -> None:
    """Found by a hunt: a secret was created 0666 & ~umask (0644 under umask 022, in a 0755
    directory) and narrowed to 0600 only after its text was written: anyone could open it
    meanwhile. Every file's mode is checked at the moment its mode is set."""
    bundle = Bundle()
    bundle.add("nginx.conf", "events {}\n")
    bundle.add("secrets/k.pem", "-----BEGIN PRIVATE KEY-----\n", mode=0o600)
    seen: dict[str, int] = {}
    real_chmod, real_fchmod = os.chmod, os.fchmod

    def chmod(path, mode, *a, **kw):
        if Path(path).is_file():
            seen[Path(path).name] = os.stat(path).st_mode & 0o777
        return real_chmod(path, mode, *a, **kw)

    def fchmod(fd, mode):
        seen[os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[1]] = os.fstat(fd).st_mode & 0o777
        return real_fchmod(fd, mode)

    monkeypatch.setattr(bundle_module.os, "chmod", chmod)
    monkeypatch.setattr(bundle_module.os, "fchmod", fchmod)
    old = os.umask(0)
    try:
        write_atomic(bundle, tmp_path / "out")
    finally:
        os.umask(old)
    assert seen.get("k.pem") == 0o600, seen
    assert (tmp_path / "out" / "secrets" / "k.pem").stat().st_mode & 0o777 == 0o600


def test_parents_the_build_creates_are_0755_whatever_the_umask(tmp_path: Path) -> None:
    """With umask 077 a parent directory that `-o a/b/out` made was 0700: nginx workers running
    as another user could not reach the bundle below it."""
    old = os.umask(0o077)
    try:
        write_atomic(_new_bundle(), tmp_path / "a" / "b" / "out")
    finally:
        os.umask(old)
    assert [(tmp_path / p).stat().st_mode & 0o777 for p in ("a", "a/b")] == [0o755, 0o755]


def _build_cli(out: Path) -> object:
    return CliRunner().invoke(cli.main, ["build", str(PETSTORE), "-o", str(out)])


@pytest.mark.parametrize("kind", ["user files", "hand-written nginx.conf", "a file", "a symlink to a bundle"])
def test_refuses_to_replace_what_apigen_did_not_write(tmp_path: Path, kind: str) -> None:
    """`-o` mistyped as a project directory (or any directory apigen did not write) must not
    delete it: exit 1, the path and the reason, nothing touched, nothing left behind."""
    parent = tmp_path / "p"
    parent.mkdir()
    out = parent / "target"
    if kind == "user files":
        (out / "src").mkdir(parents=True)
        (out / "src" / "main.py").write_text("print('precious')\n")
        (out / "README").write_text("mine\n")
    elif kind == "hand-written nginx.conf":
        out.mkdir()
        (out / "nginx.conf").write_text("events {}\nhttp {}\n")
    elif kind == "a file":
        out.write_text("not a directory\n")
    else:
        real = parent / "real"
        real.mkdir()
        (real / "nginx.conf").write_text(GENERATED_MARK + "0.0.1\n")
        out.symlink_to(real)
    before = {p.name: (p.is_symlink(), p.is_file()) for p in parent.iterdir()}
    contents = tree(out) if out.is_dir() else {"": (out.read_bytes(), 0)}
    result = _build_cli(out)
    if kind == "a file":  # click's own check of `-o`: a usage error
        assert result.exit_code == 2 and "is a file" in result.output, result.output
    else:
        assert result.exit_code == 1, result.output
        assert f"{out}: error: cannot write the bundle: " in result.output
    assert "Traceback" not in result.output
    assert {p.name: (p.is_symlink(), p.is_file()) for p in parent.iterdir()} == before, "something was left behind"
    assert (tree(out) if out.is_dir() else {"": (out.read_bytes(), 0)}) == contents


def test_an_empty_directory_is_filled(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = _build_cli(out)
    assert result.exit_code == 0, result.output
    assert (out / "nginx.conf").read_text().startswith(GENERATED_MARK)


def test_a_rebuild_keeps_the_logs(previous) -> None:
    """`nginx -p <bundle>` writes its pid file and logs into the bundle: a rebuild moves them into
    the new bundle (the running nginx keeps appending to the same files)."""
    out, _ = previous
    (out / "logs").mkdir()
    (out / "logs" / "nginx.pid").write_text("4242\n")
    (out / "logs" / "access.log").write_text("old line\n")
    write_atomic(_new_bundle(), out)
    after = tree(out)
    assert after["logs/nginx.pid"][0] == b"4242\n" and after["logs/access.log"][0] == b"old line\n"
    assert "secrets/k.pem" not in after and after["nginx.conf"][0].startswith(GENERATED_MARK.encode())
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]



def test_a_rebuild_keeps_temp_and_the_read_access_given_to_secrets(previous) -> None:
    """A running nginx makes temp/ (client bodies, proxy buffers, the JWT cache) at start only:
    a rebuild that emptied it made every body over 16k answer 500 until the reload; and it reset
    secrets/htpasswd-* to 0600, undoing the group read access docs/security.md has operators give
    the worker user (found by a hunt)."""
    import grp
    import os
    import stat

    from apigen.pipeline import compile_policy

    out, _ = previous
    (out / "temp" / "client_body").mkdir(parents=True)
    (out / "temp" / "client_body" / "0000000001").write_text("a body\n")
    secured = compile_policy(PETSTORE.parent.parent / "secured" / "policy.yaml").bundle
    assert secured is not None
    write_atomic(secured, out)
    key = out / "secrets" / next(n for n in os.listdir(out / "secrets") if n.startswith("apikeys"))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    group = grp.getgrnam("nogroup").gr_gid if os.geteuid() == 0 else os.getegid()
    os.chown(key, -1, group)
    key.chmod(0o640)
    write_atomic(secured, out)
    assert (out / "temp" / "client_body" / "0000000001").read_text() == "a body\n"
    assert (stat.S_IMODE(key.stat().st_mode), key.stat().st_gid) == (0o640, group)
    key.chmod(0o644)  # wider than group read is not carried over
    write_atomic(secured, out)
    assert stat.S_IMODE(key.stat().st_mode) == 0o640


def test_a_rebuild_keeps_symlinked_runtime_directories(previous, tmp_path: Path) -> None:
    """logs/ -> /var/log/... was replaced by an empty directory (a review)."""
    out, _ = previous
    elsewhere = tmp_path / "var-log"
    elsewhere.mkdir()
    (elsewhere / "nginx.pid").write_text("4242\n")
    (out / "logs").symlink_to(elsewhere)
    write_atomic(_new_bundle(), out)
    assert (out / "logs").is_symlink() and (out / "logs" / "nginx.pid").read_text() == "4242\n"


def test_a_failed_build_leaves_no_new_parent_directories(tmp_path: Path) -> None:
    """`-o new/dirs/<too long name>`: exit 1 naming the -o path (not apigen's temporary
    sibling), and the parent directories the build created are gone again."""
    out = tmp_path / "new" / "dirs" / ("a" * 300)
    result = _build_cli(out)
    assert result.exit_code == 1, result.output
    assert f"{out}: error: cannot write the bundle: File name too long" in result.output
    assert ".new-" not in result.output
    assert not (tmp_path / "new").exists()


def test_a_mount_point_is_refused_with_a_reason(tmp_path: Path, monkeypatch) -> None:
    """Renaming a mount point (a Docker volume) fails with EBUSY: the message says why."""
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(bundle_module.os.path, "ismount", lambda p: Path(p) == out)
    with pytest.raises(OSError, match="is a mount point") as info:
        write_atomic(_new_bundle(), out)
    assert info.value.filename == str(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not any(out.iterdir())
