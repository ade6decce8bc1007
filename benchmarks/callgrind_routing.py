"""Routing cost in instructions: the gateway's nginx under callgrind, per request, deterministic.

    python benchmarks/callgrind_routing.py [--sections corpus,scale,policies] [--sizes 1000] [--passes 2]
                                           [--compare-ref REF] [--functions 12] [--policy-urls 150]

wrk's requests/s on this shared 2-core VM move by several points between runs of the same
bundle (benchmarks/README.md), too much to attribute a change of 1-3 %. callgrind counts the
instructions nginx executes, which do not depend on the machine's load: the same bundle and URL
list give the same count. Each variant (the single-location baseline, the generated bundle, the
what-if variants of bench_routing.py, and optionally the bundle an earlier commit builds) runs as
one nginx process (`master_process off`) under `valgrind --tool=callgrind`, instrumentation off;
every URL of the list is sent once to warm it up, then instrumentation is switched on
(`callgrind_control -i on`) for ``--passes`` passes over the list (one keep-alive connection,
requests in the list's order) and the total is divided by the requests sent.

The ``policies`` section counts the policy variants of bench_routing.py the same way (every
corpus operation behind each policy, the same requests with the variant's headers, e.g. a JWT)
against the bundle without a policy, and splits the cryptography out of the authentication
variants: OpenSSL's key decoding (``d2i_PUBKEY``, which njs runs on every `importKey`), the
signature check and the HMAC, inclusive of what they call.

Instructions are not time: cache misses are not counted, and `rep stos` (glibc's memset of large
blocks, e.g. the per-request variable slots) counts once per byte. The `functions` table shows
where the difference to the baseline goes, so such effects can be read off.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_routing as br
from _common import machine, print_table
from _nginx import NGINX, free_port, wait_port

BODY_METHODS = {"POST", "PUT", "PATCH"}


def send(port: int, urls: list[str], passes: int, headers: list[str] = ()) -> int:
    """Every URL ``passes`` times over one keep-alive connection, with ``headers`` ("Name: value");
    returns the non-200 answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    fields = dict(h.split(": ", 1) for h in headers)
    bad = 0
    for _ in range(passes):
        for line in urls:
            method, path = line.split(" ", 1)
            conn.request(method, path, body=b"" if method in BODY_METHODS else None, headers=fields)
            resp = conn.getresponse()
            resp.read()
            bad += resp.status != 200
    conn.close()
    return bad


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM until nginx exits (callgrind writes its profile then). Once in a while, at
    10,000 operations, nginx under valgrind slept on through the first SIGTERM."""
    for _ in range(30):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    raise RuntimeError("nginx under callgrind did not stop on SIGTERM")


def profile(prefix: Path, port: int, urls: list[str], passes: int, out: Path, headers: list[str] = ()) -> tuple[float, int]:
    """(instructions per request, non-200 answers) of the nginx in ``prefix`` serving ``urls``."""
    cmd = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--instr-atstart=no",
        NGINX, "-p", f"{prefix}/", "-c", "nginx.conf", "-g", "daemon off; master_process off;",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=(out.parent / (out.name + ".stderr")).open("wb"))
    try:
        wait_port(port, 120)
        send(port, urls, 1, headers)  # warm: every location, map and regex touched once
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        bad = send(port, urls, passes, headers)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
    finally:
        stop(proc)
    return sum(functions(out).values()) / (len(urls) * passes), bad


def functions(out: Path, inclusive: bool = False) -> dict[str, int]:
    """Instructions by function from callgrind_annotate: self cost (recursion levels summed), or
    with ``inclusive`` the cost of the calls at the outermost level, callees included."""
    cmd = ["callgrind_annotate", "--threshold=100", *(["--inclusive=yes"] if inclusive else []), str(out)]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    costs: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(\S.*)", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = m.group(2).split(":", 1)[1] if m.group(2).startswith("???:") else m.group(2).rsplit(":", 1)[-1]
        name = name.split(" [")[0]
        if inclusive and re.search(r"'\d+$", name):
            continue  # a recursion level inside the outermost call, already counted there
        name = re.sub(r"'\d+", "", name)
        costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def section(title: str, workdir: Path, specs: dict[str, Path], backend_port: int, args: argparse.Namespace) -> None:
    port = free_port()
    bundle, plan = br.build(workdir, "apigen", br._policy(specs, f"127.0.0.1:{port}", backend_port))
    urls = br.url_list(plan)
    variants: list[tuple[str, Path, int]] = [("apigen", bundle, port)]
    changes: list[tuple[str, Callable[[Path], None]]] = [
        ("single location", lambda d: br.variant_single(d, plan, rewrite=False)),
        ("single, $request_uri", lambda d: br.variant_single(d, plan, rewrite=False, request_uri=True)),
        ("single + rewrite", lambda d: br.variant_single(d, plan, rewrite=True)),
        ("what-if: no route regex", lambda d: br.variant_no_route_regex(d, plan)),
        ("what-if: locations only", lambda d: br.variant_locations_only(d, plan)),
    ]
    for name, change in changes:
        p = free_port()
        variants.append((name, br.clone(bundle, br.dir_name(name), p, change), p))
    if args.compare_ref:
        p = free_port()
        ref_dir = workdir / "ref"
        ref_dir.mkdir()
        variants.append((f"apigen @ {args.compare_ref}", br.build_at_ref(ref_dir, args.compare_ref, br._policy(specs, f"127.0.0.1:{p}", backend_port)), p))
    order = ["single location", "single, $request_uri", "single + rewrite", "apigen", *([f"apigen @ {args.compare_ref}"] if args.compare_ref else []), "what-if: no route regex", "what-if: locations only"]
    by_name = {name: (prefix, p) for name, prefix, p in variants}
    results: dict[str, tuple[float, int]] = {}
    outs: dict[str, Path] = {}
    for name in order:
        prefix, p = by_name[name]
        outs[name] = workdir / f"callgrind.{br.dir_name(name.replace('@', 'at'))}.out"
        results[name] = profile(prefix, p, urls, args.passes, outs[name])
    base = results["single location"][0]
    print(f"\n### {title}\n\n{len(urls)} URLs x {args.passes} passes, instructions per request (callgrind)\n")
    print_table(
        ["variant", "instructions/req", "vs single location", "instruction ratio", "non-200"],
        [[n, f"{results[n][0]:.0f}", f"+{results[n][0] - base:.0f}", f"{base / results[n][0]:.1%}", results[n][1]] for n in order],
    )
    if args.functions:
        n_req = len(urls) * args.passes
        single, gen = functions(outs["single location"]), functions(outs["apigen"])
        rows = sorted(set(single) | set(gen), key=lambda k: -(gen.get(k, 0) - single.get(k, 0)))[: args.functions]
        print(f"\nWhere `apigen` spends more than `single location` (instructions per request, top {args.functions}):\n")
        print_table(
            ["function", "single location", "apigen", "difference"],
            [[f"`{k}`", f"{single.get(k, 0) / n_req:.0f}", f"{gen.get(k, 0) / n_req:.0f}", f"{(gen.get(k, 0) - single.get(k, 0)) / n_req:+.0f}"] for k in rows],
        )


# Where an authentication variant's cryptography goes (inclusive, callees counted): njs imports
# the key on every verification (no state between requests before njs 0.8), and OpenSSL 3.0
# builds its decoder chains on every import (openssl/openssl#15199; cached from 3.2, #21426).
CRYPTO_FUNCTIONS = (("key decoding (d2i_PUBKEY)", "d2i_PUBKEY"), ("RSA check (EVP_PKEY_verify)", "EVP_PKEY_verify"), ("HMAC", "HMAC"))


def policies_section(workdir: Path, backend_port: int, args: argparse.Namespace) -> None:
    """The policy variants of bench_routing.py (every corpus operation behind the policy) against
    the same routes without one, on an evenly spaced sample of ``--policy-urls`` requests."""
    specs = br.corpus_specs()
    port = free_port()
    bundle, plan = br.build(workdir, "nopolicy", br._policy(specs, f"127.0.0.1:{port}", backend_port))
    urls = br.url_list(plan)
    urls = urls[:: max(1, len(urls) // args.policy_urls)][: args.policy_urls]
    variants = [("no policy", bundle, port, []), *br.policy_bundles(workdir, specs, backend_port)]
    rows = []
    base = 0.0
    for name, prefix, p, headers in variants:
        out = workdir / f"callgrind.{br.dir_name(name)}.out"
        ir, bad = profile(prefix, p, urls, args.passes, out, headers)
        base = base or ir
        n_req = len(urls) * args.passes
        incl = functions(out, inclusive=True)
        crypto = [incl.get(fn, 0) / n_req for _label, fn in CRYPTO_FUNCTIONS]
        rows.append([name, f"{ir:.0f}", f"+{ir - base:.0f}", f"{base / ir:.1%}", *(f"{c:.0f}" if c else "" for c in crypto), bad])
    print(f"\n### policies (corpus routes, every operation)\n\n{len(urls)} URLs x {args.passes} passes, instructions per request (callgrind)\n")
    print_table(["variant", "instructions/req", "vs no policy", "instruction ratio", *(label for label, _fn in CRYPTO_FUNCTIONS), "non-200"], rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", default="corpus", help="corpus,scale,policies")
    ap.add_argument("--sizes", default="1000", help="synthetic operation counts for the scale section")
    ap.add_argument("--passes", type=int, default=2, help="passes over the URL list while counting")
    ap.add_argument("--compare-ref", help="also count the bundle the code of this git ref builds (same policy)")
    ap.add_argument("--functions", type=int, default=12, help="rows of the per-function difference (0: none)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (callgrind outputs)")
    ap.add_argument("--policy-urls", type=int, default=150, help="requests of the policies section (a sample of the corpus URLs)")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            print(f"{tool} not found (apt-get install valgrind)", file=sys.stderr)
            return 2
    print(f"machine: {machine()}; nginx under callgrind, one process, PCRE as configured (JIT off)")
    with br.work_and_backend("apigen-callgrind-", args.keep) as (workdir, be):
        sections = set(args.sections.split(","))
        br.run_sections(workdir, sections, args, lambda title, d, specs: section(title, d, specs, be.port, args))
        if "policies" in sections:
            d = workdir / "policies"
            d.mkdir()
            policies_section(d, be.port, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
