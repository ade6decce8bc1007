"""Time `apigen lint` on the largest corpus spec: a cold run, then repeated runs with unchanged
inputs (served from the content-digest cache). Prints wall-clock figures; not a test.

    python benchmarks/lint_cache.py [SPEC] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = next(
    (p / "shared" / "corpus" / "box-openapi.json" for p in (REPO.parent, REPO.parent.parent)
     if (p / "shared" / "corpus" / "box-openapi.json").is_file()),
    REPO.parent / "shared" / "corpus" / "box-openapi.json",
)


def lint(policy: Path, cache: Path) -> float:
    env = {**os.environ, "APIGEN_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "apigen", "lint", "-q", str(policy)], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec", nargs="?", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(
            "upstreams:\n  backend:\n    servers:\n      - {address: 127.0.0.1:9001}\n"
            f"apis:\n  - name: api\n    spec: {args.spec.resolve()}\n    upstream: backend\n"
        )
        cache = Path(tmp) / "cache"
        cold = lint(policy, cache)
        warm = sorted(lint(policy, cache) for _ in range(args.runs))
        print(f"spec: {args.spec} ({args.spec.stat().st_size / 1e6:.1f} MB)")
        print(f"cold lint:     {cold:.2f} s")
        print(f"repeated lint: min {warm[0]:.3f} s, median {warm[len(warm) // 2]:.3f} s, max {warm[-1]:.3f} s "
              f"({args.runs} runs, cache hit)")


if __name__ == "__main__":
    main()
