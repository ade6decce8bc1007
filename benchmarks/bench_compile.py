"""Compile benchmark: `apigen build` on every corpus spec and on synthetic 1,000 / 10,000
operation specs, against openapi-spec-validator on the same document in the same run.

    python benchmarks/bench_compile.py [--repeat 3] [--sizes 1000,10000] [--no-small]

Columns: build wall time and peak RSS (a fresh `python -m apigen build` process, bundle verify
included), cold (the spec was never validated before; only compiled templates are cached, as
after any earlier apigen run) and warm (the same bytes were validated by a previous run); `validate()` = openapi_spec_validator.validate alone on the already-parsed document
(in a fresh process, timed around the call only); `CLI` = the `openapi-spec-validator` command on
the file, loading and start-up included. Ratios are build / baseline. Goals: build <= 1.5x CLI
for every corpus spec; 10,000 operations < 15 s and < 1 GiB.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BIG_SPECS, CORPUS, REPO, apigen_cmd, best_of, machine, print_table, run_timed, write_policy
from gen_spec import generate

# Times openapi_spec_validator.validate alone (the document is parsed before the clock starts).
_VALIDATE_ONLY = r"""
import sys, time, json
sys.path.insert(0, {repo!r})
from apigen.load.spec_loader import parse_document
from openapi_spec_validator import validate
text = open(sys.argv[1], encoding="utf-8").read()
doc = parse_document(text, sys.argv[1])
t = time.perf_counter()
validate(doc, base_uri="file://" + sys.argv[1])
sys.stderr.write("VALIDATE %.6f\n" % (time.perf_counter() - t))
"""


def validate_only(spec: Path, repeat: int) -> float:
    code = _VALIDATE_ONLY.format(repo=str(REPO))
    run = best_of(repeat, [sys.executable, "-c", code, str(spec)])
    for line in run.stderr.splitlines():
        if line.startswith("VALIDATE "):
            return float(line.split()[1])
    return float("nan")  # the validator rejected the document


def validator_cli() -> list[str]:
    exe = shutil.which("openapi-spec-validator")
    return [exe] if exe else [sys.executable, "-m", "openapi_spec_validator"]


def backend() -> str:
    try:
        from openapi_spec_validator.settings import get_schema_validator_backend

        chosen = get_schema_validator_backend()
    except ImportError:
        chosen = "jsonschema"
    rs = importlib.util.find_spec("jsonschema_rs") is not None
    return f"{chosen} (jsonschema-rs {'installed' if rs else 'not installed'})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per measurement")
    ap.add_argument("--sizes", default="1000,10000", help="synthetic spec sizes (operations)")
    ap.add_argument("--no-small", action="store_true", help="skip the small OAI example specs")
    args = ap.parse_args()

    print(f"machine: {machine()}; validator backend: {backend()}; best of {args.repeat}")
    work = Path(tempfile.mkdtemp(prefix="apigen-bench-compile-"))
    try:
        specs: list[tuple[str, Path]] = [(name, CORPUS / name) for name in BIG_SPECS]
        if not args.no_small:
            specs += [(f"oai/{p.name}", p) for p in sorted((CORPUS / "oai-examples").iterdir())]
        for n in [int(s) for s in args.sizes.split(",") if s]:
            path = work / f"synthetic-{n}.json"
            import json

            path.write_text(json.dumps(generate(n), indent=1))
            specs.append((f"synthetic {n} ops", path))

        templates_only = work / "cache-templates"
        # apigen as installed (pip compiles every module to bytecode, as it did for the
        # validator the CLI runs): an environment that forbids writing .pyc files would make
        # every apigen run compile its sources first, which no installed copy does.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        prime = write_policy(work / "prime.json", {"api": CORPUS / "oai-examples" / "v3.0-petstore.yaml"}, "127.0.0.1:9", "127.0.0.1:8080")
        run_timed(apigen_cmd("build", str(prime), "-o", str(work / "out"), "-q"), cwd=REPO, env={**os.environ, "APIGEN_CACHE_DIR": str(templates_only)})
        rows = []
        for label, spec in specs:
            policy = write_policy(work / "policy.json", {"api": spec}, "127.0.0.1:9", "127.0.0.1:8080")
            cmd = apigen_cmd("build", str(policy), "-o", str(work / "out"), "-q")
            # Cold: this document was never validated (a cache directory holding only what any
            # earlier apigen run leaves: compiled templates). Warm: it was, with these bytes.
            cold_runs = []
            for _ in range(args.repeat):
                shutil.rmtree(templates_only / "validated-specs", ignore_errors=True)
                cold_runs.append(run_timed(cmd, cwd=REPO, env={**os.environ, "APIGEN_CACHE_DIR": str(templates_only)}))
            cold = min(cold_runs, key=lambda r: r.wall)
            warm_env = {**os.environ, "APIGEN_CACHE_DIR": str(work / "cache")}
            run_timed(cmd, cwd=REPO, env=warm_env)  # fills the cache
            warm = best_of(args.repeat, cmd, cwd=REPO, env=warm_env)
            cli = best_of(args.repeat, [*validator_cli(), str(spec)])
            val = validate_only(spec, args.repeat)
            status = "ok" if cold.returncode == 0 and warm.returncode == 0 else f"exit {cold.returncode}/{warm.returncode}"
            rows.append(
                [
                    label,
                    status,
                    cold.wall,
                    f"{cold.max_rss_kib / 1024:.0f}",
                    warm.wall,
                    cli.wall,
                    cold.wall / cli.wall,
                    warm.wall / cli.wall,
                    val,
                    cold.wall / val if val == val and val > 0 else "-",
                ]
            )
        print_table(
            [
                "spec",
                "build",
                "cold s",
                "cold MiB",
                "warm s",
                "CLI s",
                "cold/CLI",
                "warm/CLI",
                "validate() s",
                "cold/validate()",
            ],
            rows,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
