"""Regenerate the golden bundles: ``python -m tests.golden.regen [CASE ...]`` (all cases by default).

Each case's ``expected/`` is replaced atomically with what the compiler produces now, after the
bundle parses back with crossplane. Review the diff (``git diff tests/golden``) like code.
"""

from __future__ import annotations

import sys

from apigen.bundle import write_atomic
from apigen.diagnostics import CompileError
from apigen.pipeline import compile_policy
from apigen.verify_bundle import verify_written_bundle
from tests.golden.cases import case_names, expected_dir, policy_path


def main(argv: list[str]) -> int:
    names = argv or case_names()
    unknown = sorted(set(names) - set(case_names()))
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(case_names())}", file=sys.stderr)
        return 2
    for name in names:
        try:
            result = compile_policy(policy_path(name))
            assert result.bundle is not None
            write_atomic(result.bundle, expected_dir(name), verify=verify_written_bundle(result))
        except CompileError as exc:
            for d in exc.diagnostics.sorted():
                print(d.format(), file=sys.stderr)
            print(f"{name}: FAILED", file=sys.stderr)
            return 1
        print(f"{name}: {len(result.bundle.files)} files -> {expected_dir(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
