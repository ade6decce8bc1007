"""The ambiguity check compares only candidate pairs (routes sharing every segment shape before a
mixed segment); it must flag exactly the pairs the plain double loop over each length flags."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from apigen.plan.routing import _candidate_pairs, ambiguous_sample
from tests.unit.test_routing_nesting import CORPUS, TRICKY_PATHS, _plan, _spec

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from gen_spec import generate  # noqa: E402

MIXED = ["/m/{a}.json", "/m/{a}.{b}", "/m/x.{b}", "/m/{a}-{b}/c", "/m/{a}-x/c", "/m/{a}.json/{c}", "/m/{a}.{b}/{c}",
         "/n/{a}/{b}.json", "/n/{a}/{b}.{c}", "/n/x/{b}.{c}", "/n/{a}/v{b}", "/n/{a}/{b}v"]


def _brute(bucket):
    return [(a, b) for i, a in enumerate(bucket) for b in bucket[i + 1 :] if ambiguous_sample(a.template, b.template)]


def _check(plan) -> int:
    by_length = defaultdict(list)
    for r in plan.routes.routes:
        if not r.is_exact:
            by_length[len(r.template.segments)].append(r)
    flagged = 0
    for bucket in by_length.values():
        bucket.sort(key=lambda r: r.template.sort_key())
        fast = [(a.route_id, b.route_id) for a, b in _candidate_pairs(bucket) if ambiguous_sample(a.template, b.template)]
        slow = [(a.route_id, b.route_id) for a, b in _brute(bucket)]
        assert fast == slow
        flagged += len(slow)
    return flagged


def test_candidate_pairs_flag_what_the_double_loop_flags(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(_spec(TRICKY_PATHS + MIXED)))
    (tmp_path / "synthetic.json").write_text(json.dumps(generate(700)))
    specs = {"t": tmp_path / "spec.json", "s": tmp_path / "synthetic.json"}
    if CORPUS is not None:
        specs["twilio"] = CORPUS / "twilio_api_v2010.yaml"
    assert _check(_plan(tmp_path, specs)) >= 5
