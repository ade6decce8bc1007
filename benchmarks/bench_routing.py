"""Routing benchmark: the cost of apigen's location layout on a real nginx, as ratios against a
single `location /` proxying to the same backend, all measured in the same run.

    python benchmarks/bench_routing.py [--duration 5] [--rounds 3] [--connections 32]
                                       [--sections corpus,scale,policies] [--sizes 1000,10000]
                                       [--compare-ref REF] [--control] [--simultaneous]

Every gateway runs one nginx worker; the backend is a separate nginx with one worker answering
`return 200` (never the bottleneck); wrk (one thread) drives it over loopback, requests spread
round-robin over every routed operation (one URL per method and path, HEAD/TRACE left out),
in a shuffled order. Variants, each its own nginx started from a copy of the same bundle:

* `single location`: the baseline, `location /` with the directives of an operation location
  and `proxy_pass http://<upstream>;` (no URI part: the client's URI is sent as it came, as a
  plain single-location nginx does);
* `single, $request_uri`: the same with `proxy_pass http://<upstream>$request_uri;` (what the
  variables cost: the URL is built and parsed per request; operation locations proxied so until
  the fourteenth session, when they became named locations that keep the client's URI);
* `single + rewrite`: the baseline behind `rewrite ^ <internal> last` (what the rewrite costs,
  with the `$request_uri` it then needs);
* `apigen`: the generated bundle as is;
* `apigen, groups not nested`: the same with every prefix group's map one flat list of regexes
  (no split by hashed URL segments);
* `naive regex`: every path one top-level regex location, most specific first (what the
  grouped layout avoids);
* `apigen, identical copy` (`--control`): the same files again: how far apart one configuration
  reads in this run;
* `what-if: ...`: hand edits of the bundle that isolate where the rest of the cost is (`no
  route regex`: everything but the route regexes, the dispatch map and the jump included, a
  lower bound for any layout with a route location, a method dispatch and a jump; `locations
  only`: the route locations without evaluating any route or dispatch map; the same without the
  route maps in the configuration at all).

Rounds are interleaved (each round runs every variant once, in its own seeded random order;
`--fixed-order` for the same order every round) and medians reported, because the machine is
shared: compare the ratios, not the absolute figures. With `--simultaneous` each variant runs at
the same time as the baseline, both on the gateway's core (one wrk each), so a neighbour's load
on the VM falls on both: its ratios repeat within a few points where sequential rounds do not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import BIG_SPECS, CORPUS, machine, median, print_table
from _nginx import Nginx, backend, cpu_split, free_port, taskset
from gen_spec import generate

from apigen.bundle import write_atomic
from apigen.pipeline import compile_policy
from apigen.plan import routing
from apigen.plan.planner import slug
from apigen.render.quoting import quote

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "urls.lua"
SKIP_METHODS = {"HEAD", "TRACE"}  # wrk waits for a HEAD body; nginx answers TRACE 405 itself
OP_MARKER = "# Internal locations:"
URL_SAFE = "/:@!$&'()*+,;=-._~"  # pchar: everything else (`#`, `?`, spaces) is percent-encoded


# ---------------------------------------------------------------------------------------------
# Policy variants: each names the kind it needs and is skipped, loudly, when the kind does not
# exist on this branch. Adding one is a few lines: the policy body and any request headers.


@dataclass(frozen=True)
class PolicyVariant:
    label: str
    kind: str
    policy: Callable[[Path], dict[str, Any]]  # workdir -> the policy definition
    headers: Callable[[Path], list[str]] = lambda _w: []  # workdir -> extra request headers


def _jwt_hs256(workdir: Path) -> dict[str, Any]:
    (workdir / "hs256.key").write_text("bench-secret-bench-secret-bench-secret-32b")
    return {"kind": "jwt", "keys": [{"secret": str(workdir / "hs256.key"), "alg": "HS256"}]}


def _jwt_hs256_token(workdir: Path) -> list[str]:
    import jwt  # pyjwt (test extra)

    secret = (workdir / "hs256.key").read_text()
    token = jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600}, secret, "HS256")
    return [f"Authorization: Bearer {token}"]


def _rsa_pair(workdir: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if (workdir / "rs256.pem").exists():
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (workdir / "rs256.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (workdir / "rs256.pub.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _jwt_rs256(workdir: Path) -> dict[str, Any]:
    _rsa_pair(workdir)
    return {"kind": "jwt", "keys": [{"pem": str(workdir / "rs256.pub.pem"), "alg": "RS256"}]}


def _jwt_rs256_token(workdir: Path) -> list[str]:
    import jwt

    token = jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600}, (workdir / "rs256.pem").read_bytes(), "RS256")
    return [f"Authorization: Bearer {token}"]


def _cached(policy: Callable[[Path], dict[str, Any]]) -> Callable[[Path], dict[str, Any]]:
    """The policy with its verifications cached (one token: every request after the first hits)."""
    return lambda w: {**policy(w), "cache": {"listen": f"127.0.0.1:{free_port()}", "ttl": 30}}


POLICY_VARIANTS: tuple[PolicyVariant, ...] = (
    PolicyVariant("headers (set 1 response header)", "headers", lambda _w: {"kind": "headers", "response": {"set": {"X-Bench": "1"}}}),
    PolicyVariant("JWT HS256 (njs)", "jwt", _jwt_hs256, _jwt_hs256_token),
    PolicyVariant("JWT RS256 (njs)", "jwt", _jwt_rs256, _jwt_rs256_token),
    PolicyVariant("JWT HS256 (njs, cache)", "jwt", _cached(_jwt_hs256), _jwt_hs256_token),
    PolicyVariant("JWT RS256 (njs, cache)", "jwt", _cached(_jwt_rs256), _jwt_rs256_token),
    # limit_req counts in milliseconds: two requests in the same one exceed any rate without a burst.
    PolicyVariant("rate limit, never triggers", "rate_limit", lambda _w: {"kind": "rate_limit", "rate": "1000000r/s", "burst": 100000}),
    PolicyVariant("split 50/50 (two upstreams, same backend)", "split", lambda _w: {"kind": "split", "weights": {"be": 50, "be2": 50}}),
)


# ---------------------------------------------------------------------------------------------
# Bundles and variants


@dataclass
class Gateway:
    name: str
    prefix: Path
    port: int
    urls: list[str] = field(default_factory=list)  # "METHOD /path"
    headers: list[str] = field(default_factory=list)


def _policy(specs: dict[str, Path], listen: str, backend_port: int, uses: dict[str, dict] | None = None) -> dict:
    data: dict[str, Any] = {
        "target": {"flavor": "oss", "version": "1.22"},
        "gateway": {"listen": listen, "worker_processes": 1, "worker_connections": 4096},
        "upstreams": {
            "be": {"servers": [{"address": f"127.0.0.1:{backend_port}"}], "keepalive": 64},
            "be2": {"servers": [{"address": f"127.0.0.1:{backend_port}"}], "keepalive": 64},
        },
        "apis": [{"name": n, "spec": str(p), "upstream": "be"} for n, p in specs.items()],
    }
    if uses:
        data["policies"] = uses
        data["gateway"]["use"] = sorted(uses)
    return data


def build(workdir: Path, name: str, policy: dict, nest: bool = True) -> tuple[Path, Any]:
    policy_file = workdir / f"{name}.policy.json"
    policy_file.write_text(json.dumps(policy, indent=1))
    saved = routing.NEST_ABOVE
    if not nest:  # the layout before nested regex locations: one flat list per prefix group
        routing.NEST_ABOVE = 1 << 30
    try:
        result = compile_policy(policy_file)
    finally:
        routing.NEST_ABOVE = saved
    out = workdir / name
    write_atomic(result.bundle, out)
    return out, result.plan


def build_at_ref(workdir: Path, ref: str, policy: dict) -> Path:
    """The same policy compiled by the code of git ``ref`` (a worktree of this repository, built in
    a subprocess): the bundle an earlier commit made, measured in the same run as this one's."""
    repo = Path(__file__).resolve().parents[1]
    tree = workdir / "ref-tree"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), ref], check=True, capture_output=True)
    try:
        policy_file = workdir / "ref.policy.json"
        policy_file.write_text(json.dumps(policy, indent=1))
        out = workdir / "ref-bundle"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run([sys.executable, "-m", "apigen", "build", str(policy_file), "-o", str(out)], cwd=tree, env=env, check=True)
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], check=False, capture_output=True)
    return out


def url_list(plan: Any, seed: int = 7) -> list[str]:
    urls = []
    for n, (route, method, _op) in enumerate(plan.routes.operations()):
        if method in SKIP_METHODS:
            continue
        path = route.template.sample(fill=str(100000 + n))
        urls.append(f"{method} {urlquote(path, safe=URL_SAFE)}")
    random.Random(seed).shuffle(urls)
    return urls


def _op_body(api_text: str, request_uri: bool) -> str:
    """The directives of the first operation location (the baseline's body). Its proxy_pass has
    no URI part: the named operation location keeps the client's URI, which nginx sends on as it
    came, as a plain single-location nginx does. With ``request_uri``, proxy_pass names
    ``$request_uri`` as a location reached by `rewrite` must (the URI is then the location's own):
    variables in proxy_pass cost a URL built and parsed per request."""
    m = re.search(r'\n    location "?@apigen_op/[^"\s]*"? \{\n(.*?)\n    \}\n', api_text.split(OP_MARKER, 1)[1], re.S)
    assert m, "no operation location found"
    body = m.group(1)
    if not request_uri:
        return body
    with_uri, n = re.subn(r"(proxy_pass [^;$]+);", r"\1$request_uri;", body)
    assert n == 1, "the operation location's proxy_pass is not the plain one this baseline extends"
    return with_uri


def _gateway_server(bundle: Path, locations: str) -> str:
    text = (bundle / "api_gateway.conf").read_text()
    head = text.split("\nserver {", 1)[0]
    listen = re.search(r"\n    listen [^;]+;", text)
    assert listen
    # api_maps.conf reads $apigen_route and $apigen_path_ambiguous: nginx wants them declared by
    # some `set` (the gateway's server block sets the latter), never reached here.
    declare = "    location = /_apigen/declare {\n        set $apigen_route \"\";\n        set $apigen_path_ambiguous \"\";\n        return 404;\n    }\n"
    return f"{head}\nserver {{{listen.group(0)}\n    include \"api_json_errors.conf\";\n{declare}{locations}\n}}\n"


def _drop_route_maps(bundle: Path) -> None:
    """The baseline routes nothing: without the route maps (each map is a variable every request
    allocates a slot for), so it is the cost of a plain single-location nginx."""
    maps = bundle / "api_maps.conf"
    text = re.sub(r"\nmap (?:\$uri|\"\$apigen_s\d+\") \$apigen_(?:rg[\d_f]+|s\d+) \{\n.*?\n\}", "", maps.read_text(), flags=re.S)
    maps.write_text(text)


def variant_single(bundle: Path, plan: Any, rewrite: bool, request_uri: bool = False) -> None:
    _drop_route_maps(bundle)
    api_file = bundle / plan.apis[0].file
    body = _op_body(api_file.read_text(), request_uri=rewrite or request_uri)
    if rewrite:
        locations = (
            "    location / {\n        rewrite ^ /_apigen/op/bench last;\n    }\n"
            f"    location = /_apigen/op/bench {{\n        internal;\n{body}\n    }}"
        )
    else:
        locations = f"    location / {{\n{body}\n    }}"
    (bundle / "api_gateway.conf").write_text(_gateway_server(bundle, locations))


def variant_naive(bundle: Path, plan: Any) -> None:
    """Every path one top-level regex location in OpenAPI precedence order; no prefix groups."""
    _drop_route_maps(bundle)
    gw = bundle / "api_gateway.conf"
    gw.write_text(re.sub(r"\n    location / \{\n.*?\n    \}\n", "\n    location / {\n        return 404;\n    }\n", gw.read_text(), count=1, flags=re.S))
    for api in plan.apis:
        routes = sorted((r for r in plan.routes.routes if r.api == api.name), key=lambda r: r.template.sort_key())
        lines = []
        for r in routes:
            lines.append(f"    location ~ {quote(r.template.regex())} {{")
            lines.append(f"        set $apigen_route {quote(r.route_id)};")
            lines.append("        recursive_error_pages on;")
            lines.append("        return 418;")  # on to $apigen_target, as the generated layout does
            lines.append("    }")
        f = bundle / api.file
        ops = f.read_text().split(OP_MARKER, 1)[1]
        f.write_text("# naive layout (benchmark only)\n" + "\n".join(lines) + "\n\n" + OP_MARKER + ops)


def _edit_api_files(bundle: Path, edit: Callable[[str], str]) -> None:
    for conf in (bundle / "api_conf.d").glob("*.conf"):
        conf.write_text(edit(conf.read_text()))


def variant_locations_only(bundle: Path, plan: Any) -> None:
    """What-if: the route locations as generated, but every one names the same route and jumps
    to the same operation: the location tree, `set` and the jump without evaluating any route
    map or the dispatch map (every request is proxied the same way)."""
    first = plan.apis[0].locations[0].op.internal_uri
    route = quote(plan.routes.routes[0].route_id)
    _edit_api_files(
        bundle,
        lambda t: re.sub(r"set \$apigen_route \$apigen_rg\w+;", f"set $apigen_route {route};", t).replace(
            "return 418;", f"error_page 418 = {quote(first)};\n        return 418;"
        ),
    )


def variant_no_route_regex(bundle: Path, plan: Any) -> None:
    """What-if: everything `apigen` does but the route regexes, i.e. a lower bound for any layout
    that keeps the route location, the method dispatch and the jump. Exact locations are as
    generated (their route is a constant already); a prefix location names one synthetic route
    instead of reading its route map, as long as the templated routes' ids are on average, which
    the dispatch map sends to the first operation location for every method. So the request pays
    the location tree, `set`, the dispatch map with a key of the usual length and the jump, and
    no PCRE call beyond the single location's."""
    first = plan.apis[0].locations[0].op.internal_uri
    exact = {r.route_id for r in plan.routes.exact}
    templated = [r.route_id for r, m, _op in plan.routes.operations() if m not in SKIP_METHODS and r.route_id not in exact]
    route = "/" + "x" * (round(sum(map(len, templated)) / len(templated)) - 1)
    _edit_api_files(bundle, lambda t: re.sub(r"set \$apigen_route \$apigen_rg\w+;", f"set $apigen_route {quote(route)};", t))
    maps = bundle / "api_maps.conf"
    entries = "".join(f"    {quote(f'{route} {m}')} {quote(first)};\n" for m in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"))
    text, n = re.subn(r'(\nmap "\$apigen_path_ambiguous\$apigen_route \$request_method" \$apigen_target \{\n)', lambda m: m.group(1) + entries, maps.read_text())
    assert n == 1, "the dispatch map is not where this variant expects it"
    maps.write_text(text)


def variant_locations_only_no_maps(bundle: Path, plan: Any) -> None:
    """What-if: the same without the route maps in the configuration at all: what their
    variables cost a request that never reads them (nginx allocates and zeroes a slot for every
    indexed variable per request)."""
    variant_locations_only(bundle, plan)
    _drop_route_maps(bundle)


def dir_name(variant: str) -> str:
    """A variant's directory name: "single, $request_uri" -> "single_request_uri"."""
    return slug(variant.replace("+", "plus"))


def clone(bundle: Path, name: str, port: int, change: Callable[[Path], None]) -> Path:
    dst = bundle.parent / name
    shutil.copytree(bundle, dst)
    for conf in [dst / "api_gateway.conf"]:
        text = conf.read_text()
        conf.write_text(re.sub(r"(\n    listen )127\.0\.0\.1:\d+;", rf"\g<1>127.0.0.1:{port};", text, count=1))
    change(dst)
    return dst


# ---------------------------------------------------------------------------------------------
# Measuring


def check_routes(port: int, urls: list[str], headers: list[str], sample: int | None = None) -> int:
    """Send each URL once; return how many did not get the backend's 200."""
    import http.client

    todo = urls if sample is None or len(urls) <= sample else urls[:: max(1, len(urls) // sample)]
    hdrs = dict(h.split(": ", 1) for h in headers)
    bad = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for line in todo:
        method, path = line.split(" ", 1)
        conn.request(method, path, headers=hdrs)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            bad += 1
            if bad <= 3:
                print(f"  ! {method} {path} -> {resp.status}", file=sys.stderr)
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.close()
    return bad


def _wrk_cmd(ngx: Nginx, url_file: Path, headers: list[str], duration: int, connections: int, cpus: set[int] | None) -> list[str]:
    return [*taskset(cpus), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{ngx.port}", "--", str(url_file), *headers]


def _wrk_figures(out: str, cpu_seconds: float) -> dict[str, float]:
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    data = json.loads(line.split(" ", 1)[1])
    return {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "bad": data["socket_errors"] + data["non_2xx"],
        "cpu_us": cpu_seconds / max(1, data["requests"]) * 1e6,
    }


def wrk(ngx: Nginx, url_file: Path, headers: list[str], duration: int, connections: int, cpus: set[int] | None = None) -> dict[str, float]:
    cpu = ngx.worker_cpu_seconds()
    out = subprocess.run(_wrk_cmd(ngx, url_file, headers, duration, connections, cpus), capture_output=True, text=True, check=True).stdout
    return _wrk_figures(out, ngx.worker_cpu_seconds() - cpu)


def wrk_pair(pair: list[tuple[Nginx, Path, list[str]]], duration: int, connections: int, cpus: set[int] | None) -> list[dict[str, float]]:
    """One wrk per gateway, all at once: the gateways share their core for the same seconds, so
    a neighbour's load on the VM falls on both alike (each worker's CPU from schedstat)."""
    before = [ngx.worker_cpu_ns() for ngx, _f, _h in pair]
    procs = [
        subprocess.Popen(_wrk_cmd(ngx, url_file, headers, duration, connections, cpus), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for ngx, url_file, headers in pair
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, out, err)
        outs.append(out)
    return [_wrk_figures(out, (ngx.worker_cpu_ns() - b) / 1e9) for out, b, (ngx, _f, _h) in zip(outs, before, pair, strict=True)]


def measure_simultaneous(variants: list[tuple[str, Nginx, Path, list[str]]], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each variant against the baseline (the first variant) at the same time on the gateway's
    core, round after round (each round in its own order); a variant's row carries the baseline's
    figures from its own pairs (``base_*``), which its ratios are taken against."""
    (base_name, base_ngx, base_file, base_headers), others = variants[0], variants[1:]
    runs: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {name: [] for name, *_ in others}
    for n in range(args.rounds):
        order = list(others)
        if args.shuffle:
            random.Random(n).shuffle(order)
        for name, ngx, url_file, headers in order:
            base, run = wrk_pair([(base_ngx, base_file, base_headers), (ngx, url_file, headers)], args.duration, args.connections, args.cpus[1] if args.cpus else None)
            runs[name].append((base, run))
    base_all = _summary([b for pairs in runs.values() for b, _r in pairs])
    results: dict[str, dict[str, Any]] = {base_name: base_all | {f"base_{k}": v for k, v in base_all.items()}}
    for name, pairs in runs.items():
        base = _summary([b for b, _r in pairs])
        results[name] = _summary([r for _b, r in pairs]) | {f"base_{k}": v for k, v in base.items()}
    return results


def _summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Medians of a variant's runs, its errors summed, and its CPU a request run by run."""
    medians = {key: median([r[key] for r in runs]) for key in ("rps", "p50_ms", "p99_ms", "cpu_us")}
    return medians | {"bad": sum(r["bad"] for r in runs), "cpu_rounds": [r["cpu_us"] for r in runs]}


def measure(variants: list[tuple[str, Nginx, Path, list[str]]], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every variant's figures, medians over ``args.rounds``; the first variant is the baseline."""
    if getattr(args, "simultaneous", False):
        return measure_simultaneous(variants, args)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in variants}
    for n in range(args.rounds):
        # Each round in its own order (seeded, so a rerun repeats it): with one fixed order an
        # identical copy of the bundle, always measured last, read 2.5-4 points above the
        # original in four runs (fourteenth session), a bias of position, not of configuration.
        order = list(variants)
        if args.shuffle:
            random.Random(n).shuffle(order)
        for name, ngx, url_file, headers in order:
            runs[name].append(wrk(ngx, url_file, headers, args.duration, args.connections, args.cpus[1] if args.cpus else None))
    return {name: _summary(rs) for name, rs in runs.items()}


def paired_ratio(base_rounds: list[float], rounds: list[float]) -> str:
    """The CPU capacity ratio round by round (each round's baseline run is next in time to the
    variant's, so a neighbour's load that drifts over minutes cancels out): median (lowest-highest)."""
    ratios = sorted(b / v for b, v in zip(base_rounds, rounds, strict=True))
    return f"{median(ratios):.1%} ({ratios[0]:.0%}-{ratios[-1]:.0%})"


def report(title: str, results: dict[str, dict[str, Any]], baseline: str, extra: dict[str, dict[str, object]] | None = None) -> None:
    base = results[baseline]
    print(f"\n### {title}\n")
    extra_cols = sorted({k for v in (extra or {}).values() for k in v})
    rows = []
    for name, r in results.items():
        # Measured simultaneously (--simultaneous), a row holds the baseline of its own pairs.
        b_rps, b_cpu, b_p99 = (r.get(f"base_{k}", base[k]) for k in ("rps", "cpu_us", "p99_ms"))
        rows.append(
            [
                name,
                f"{r['rps']:.0f}",
                f"{r['rps'] / b_rps:.1%}",
                f"{r['cpu_us']:.1f}",
                f"{b_cpu / r['cpu_us']:.1%}",
                paired_ratio(r.get("base_cpu_rounds", base["cpu_rounds"]), r["cpu_rounds"]),
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['p99_ms'] / b_p99:.2f}",
                int(r["bad"]),
            ]
            + [(extra or {}).get(name, {}).get(c, "") for c in extra_cols]
        )
    print_table(
        ["variant", "req/s", "req/s ratio", "worker CPU µs/req", "CPU capacity ratio", "paired, by round", "p50 ms", "p99 ms", "p99 ratio", "errors", *extra_cols],
        rows,
    )


def routing_section(title: str, workdir: Path, specs: dict[str, Path], backend_port: int, args: argparse.Namespace, naive: bool = True) -> None:
    port = free_port()
    t0 = time.perf_counter()
    bundle, plan = build(workdir, "apigen", _policy(specs, f"127.0.0.1:{port}", backend_port))
    build_s = time.perf_counter() - t0
    urls = url_list(plan)
    url_file = workdir / "urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    prefixes = {"apigen": bundle}
    ports = {"apigen": port}
    for name, change in [
        ("single location", lambda d: variant_single(d, plan, rewrite=False)),
        ("single, $request_uri", lambda d: variant_single(d, plan, rewrite=False, request_uri=True)),
        ("single + rewrite", lambda d: variant_single(d, plan, rewrite=True)),
        *([("naive regex", lambda d: variant_naive(d, plan))] if naive else []),
        *(
            [
                ("what-if: no route regex", lambda d: variant_no_route_regex(d, plan)),
                ("what-if: locations only", lambda d: variant_locations_only(d, plan)),
                ("what-if: locations only, no route maps", lambda d: variant_locations_only_no_maps(d, plan)),
            ]
            if args.what_if
            else []
        ),
    ]:
        ports[name] = free_port()
        prefixes[name] = clone(bundle, dir_name(name), ports[name], change)
    ports["apigen, groups not nested"] = free_port()
    flat_dir = workdir / "flat"
    flat_dir.mkdir()
    prefixes["apigen, groups not nested"], _ = build(flat_dir, "flat", _policy(specs, f"127.0.0.1:{ports['apigen, groups not nested']}", backend_port), nest=False)
    order = ["single location", "single, $request_uri", "single + rewrite", "apigen", "apigen, groups not nested", *(["naive regex"] if naive else [])]
    if args.compare_ref:  # the bundle an earlier commit makes, to attribute a change (same run)
        name = f"apigen @ {args.compare_ref}"
        ports[name] = free_port()
        ref_dir = workdir / "ref"
        ref_dir.mkdir()
        prefixes[name] = build_at_ref(ref_dir, args.compare_ref, _policy(specs, f"127.0.0.1:{ports[name]}", backend_port))
        order.insert(order.index("apigen") + 1, name)
    if args.control:  # the same files: what the noise of this run is (benchmarks/README.md)
        name = "apigen, identical copy"
        ports[name] = free_port()
        prefixes[name] = clone(bundle, dir_name(name), ports[name], lambda d: None)
        order.append(name)
    if args.what_if:
        order += ["what-if: no route regex", "what-if: locations only", "what-if: locations only, no route maps"]
    servers = {name: Nginx(prefixes[name], ports[name]) for name in order}
    extra: dict[str, dict[str, object]] = {}
    for name in order:
        extra[name] = {"nginx -t s": f"{servers[name].test_config():.2f}"}
    started = []
    try:
        for name in order:
            started.append(servers[name].start())
            if args.cpus:
                servers[name].pin(args.cpus[0])
        for name in order:
            bad = check_routes(servers[name].port, urls, [], sample=None if name == "apigen" else 500)
            extra[name]["unrouted"] = bad
        results = measure([(name, servers[name], url_file, []) for name in order], args)
        for name in order:
            extra[name]["worker RSS MiB"] = f"{servers[name].worker_rss_kib() / 1024:.0f}"
        if args.light_connections:
            # Saturated, latency is queueing and follows throughput; with one request in flight
            # it is what the gateway adds to a round trip.
            light_args = argparse.Namespace(**{**vars(args), "connections": args.light_connections})
            light = measure([(name, servers[name], url_file, []) for name in ("single location", "apigen")], light_args)
            col = f"@{args.light_connections} conn"
            for name, r in light.items():
                ratio = r["p99_ms"] / light["single location"]["p99_ms"]
                extra[name] |= {f"p50 ms {col}": f"{r['p50_ms']:.3f}", f"p99 ms {col}": f"{r['p99_ms']:.3f}", f"p99 ratio {col}": f"{ratio:.2f}"}
    finally:
        for s in started:
            s.stop()
    ops = len(urls)
    print(f"\n{title}: {ops} requests in the URL list ({len(plan.routes.routes)} paths), bundle built in {build_s:.1f} s")
    report(title, results, "single location", extra)


def policy_bundles(workdir: Path, specs: dict[str, Path], backend_port: int) -> Iterator[tuple[str, Path, int, list[str]]]:
    """(label, bundle, port, request headers) of each POLICY_VARIANTS entry this branch can build;
    the others are reported and left out."""
    from apigen.policies import registry

    for v in POLICY_VARIANTS:
        if v.kind not in registry:
            print(f"\nSKIPPED {v.label}: policy kind {v.kind!r} is not available on this branch")
            continue
        port = free_port()
        try:
            vb, _ = build(workdir, re.sub(r"\W+", "_", v.label), _policy(specs, f"127.0.0.1:{port}", backend_port, {"bench": v.policy(workdir)}))
        except Exception as exc:  # a variant whose policy keys drifted from the kind's schema
            print(f"\nFAILED {v.label}: the benchmark's policy for kind {v.kind!r} does not build: {exc}")
            continue
        yield v.label, vb, port, v.headers(workdir)


def policies_section(workdir: Path, specs: dict[str, Path], backend_port: int, args: argparse.Namespace) -> None:
    base_port = free_port()
    bundle, plan = build(workdir, "nopolicy", _policy(specs, f"127.0.0.1:{base_port}", backend_port))
    urls = url_list(plan)
    url_file = workdir / "urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    variants: list[tuple[str, Nginx, Path, list[str]]] = [("no policy", Nginx(bundle, base_port), url_file, [])]
    for label, vb, port, headers in policy_bundles(workdir, specs, backend_port):
        variants.append((label, Nginx(vb, port), url_file, headers))
    started = []
    try:
        for _name, ngx, _f, _h in variants:
            started.append(ngx.start())
            if args.cpus:
                ngx.pin(args.cpus[0])
        for name, ngx, _f, headers in variants:
            bad = check_routes(ngx.port, urls, headers, sample=300)
            if bad:
                print(f"  ! {name}: {bad} sampled requests not answered 200")
        results = measure(variants, args)
    finally:
        for s in started:
            s.stop()
    report("policies (corpus routes, every operation)", results, "no policy")
    rsa_verify_bound(results["no policy"]["cpu_us"], args.cpus[0] if args.cpus else None)


def rsa_verify_bound(base_cpu_us: float, cpus: set[int] | None) -> None:
    """What uncached RS256 could reach at best: OpenSSL's RSA-2048 signature check alone (no key
    import, no token parsing, no njs), on the gateway's CPU, against the worker CPU a request costs
    without a policy in this run. A gateway that checks a signature per request pays at least both."""
    if not shutil.which("openssl"):
        print("\nRSA-2048 bound: skipped (no openssl command)")
        return
    # `openssl speed` divides by CPU user time unless told -elapsed.
    out = subprocess.run([*taskset(cpus), "openssl", "speed", "-seconds", "3", "rsa2048"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^rsa 2048 bits\s+\S+s\s+\S+s\s+\S+\s+([\d.]+)\s*$", out, re.M)
    if not m:
        print("\nRSA-2048 bound: `openssl speed` printed no verify/s line")
        return
    verify_us = 1e6 / float(m[1])
    print(
        f"\nRSA-2048 bound: one signature check (`openssl speed rsa2048`, same CPU) takes {verify_us:.1f} µs; "
        f"the no-policy worker {base_cpu_us:.1f} µs a request. Uncached RS256 can reach at most "
        f"{base_cpu_us:.1f} / ({base_cpu_us:.1f} + {verify_us:.1f}) = {base_cpu_us / (base_cpu_us + verify_us):.1%} "
        "of the no-policy throughput, whatever verifies it."
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--sections", default="corpus,scale,policies")
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--no-what-if", dest="what_if", action="store_false", help="skip the what-if variants")
    ap.add_argument("--light-connections", type=int, default=1, help="also measure latency with this many connections (0: skip)")
    ap.add_argument("--no-pin", dest="pin", action="store_false", help="let the gateway share CPUs with wrk and the backend")
    ap.add_argument("--compare-ref", help="also measure the bundle the code of this git ref builds (same policy, same run)")
    ap.add_argument(
        "--control",
        action="store_true",
        help="also measure an identical copy of the apigen bundle: how far apart the same configuration reads in this run",
    )
    ap.add_argument("--fixed-order", dest="shuffle", action="store_false", help="run the variants in the same order every round")
    ap.add_argument(
        "--simultaneous",
        action="store_true",
        help="measure each variant at the same time as the baseline, both on the gateway's core: a neighbour's load falls on both",
    )
    args = ap.parse_args()
    args.cpus = cpu_split() if args.pin else None
    if not shutil.which("wrk"):
        print("wrk not found (apt-get install wrk)", file=sys.stderr)
        return 2
    sections = set(args.sections.split(","))
    pinned = f"; gateway on CPU {sorted(args.cpus[0])}, wrk and backend on {sorted(args.cpus[1])}" if args.cpus else "; unpinned"
    print(f"machine: {machine()}; wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} interleaved rounds, medians{pinned}")
    with work_and_backend("apigen-bench-routing-", args.keep) as (workdir, be):
        if args.cpus:
            be.pin(args.cpus[1])
        run_sections(workdir, sections, args, lambda title, d, specs: routing_section(title, d, specs, be.port, args))
        if "policies" in sections:
            d = workdir / "policies"
            d.mkdir()
            policies_section(d, corpus_specs(), be.port, args)
    return 0


@contextlib.contextmanager
def work_and_backend(prefix: str, keep: bool) -> Iterator[tuple[Path, Nginx]]:
    """A work directory and the backend nginx running in it; both gone afterwards (unless
    ``keep``: the directory stays, for the configurations and outputs)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    workdir.chmod(0o755)  # nginx workers (`nobody` under root) write the JWT cache in the prefix
    be = backend(workdir)
    try:
        be.start()
        yield workdir, be
    finally:
        be.stop()
        if keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def corpus_specs() -> dict[str, Path]:
    return {Path(n).stem.split("_")[0].split("-")[0]: CORPUS / n for n in BIG_SPECS}


def run_sections(workdir: Path, sections: set[str], args: argparse.Namespace, run: Callable[[str, Path, dict[str, Path]], None]) -> None:
    """The corpus section and one per synthetic size, each in its own directory of ``workdir``:
    ``run(title, directory, {api name: spec})``."""
    if "corpus" in sections:
        d = workdir / "corpus"
        d.mkdir()
        run("corpus: twilio + box + discord behind one server", d, corpus_specs())
    if "scale" in sections:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            d = workdir / f"synthetic{n}"
            d.mkdir()
            spec = d / "spec.json"
            spec.write_text(json.dumps(generate(n)))
            run(f"scale: synthetic {n} operations", d, {"synthetic": spec})


if __name__ == "__main__":
    sys.exit(main())
