"""Positions in big specs (for warnings and errors): ruamel's round-trip loader vs libyaml's
composer, which apigen uses. Prints CPU seconds per corpus file and checks both agree.

    python benchmarks/bench_spec_positions.py [SPEC ...]   (default: the shared corpus)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apigen.load.spec_loader import _compose_positions
from apigen.load.yaml_positions import load_yaml_with_positions
from tests.support.corpus import corpus_dir


def main(argv: list[str]) -> int:
    root = corpus_dir()
    files = [Path(a) for a in argv] or (
        [root / n for n in ("box-openapi.json", "twilio_api_v2010.yaml", "discord-openapi-3.1.json")] if root else []
    )
    if not files:
        print("no corpus found (set APIGEN_CORPUS or pass files)", file=sys.stderr)
        return 2
    for path in files:
        text = path.read_text(encoding="utf-8")
        t0 = time.process_time()
        _, exact = load_yaml_with_positions(text, path.name)
        t1 = time.process_time()
        fast = _compose_positions(text, path.name)
        t2 = time.process_time()
        same = fast.values == exact.values and fast.keys == exact.keys
        print(f"{path.name}: ruamel {t1 - t0:.2f} s, libyaml {t2 - t1:.2f} s, {len(exact.values)} positions, identical={same}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
