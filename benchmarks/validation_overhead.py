"""Requests per second through the gateway for POST /v1/pets (petstore): no validation, validation
(report and enforce), WAF, both. The backend is a second nginx that discards the body and answers
200, so the figures show the gateway's cost. Run on purpose: `python benchmarks/validation_overhead.py`.
Needs `wrk`. Prints one line per configuration."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.live.validation_support import PETSTORE, build_gateway
from tests.support.nginx import NginxInstance
from tests.support.ports import free_port

BACKEND_CONF = """\
worker_processes 1; pid logs/nginx.pid; error_log logs/error.log warn;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path temp/cb; proxy_temp_path temp/p; fastcgi_temp_path temp/f;
  uwsgi_temp_path temp/u; scgi_temp_path temp/s;
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }} }}
"""
BODY = '{"name": "Rex", "tag": "dog"}'
LUA = f"""wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""
CONFIGS = {
    "none": ({}, []),
    "validation report": ({"v": {"kind": "validation", "mode": "report"}}, ["v"]),
    "validation enforce": ({"v": {"kind": "validation"}}, ["v"]),
    "waf": ({"w": {"kind": "waf", "audit_log": "/dev/null"}}, ["w"]),
    "waf + validation": ({"w": {"kind": "waf", "audit_log": "/dev/null"}, "v": {"kind": "validation"}}, ["w", "v"]),
}


def main(seconds: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bport = free_port()
        (root / "backend").mkdir()
        (root / "backend" / "nginx.conf").write_text(BACKEND_CONF.format(port=bport))
        script = root / "post.lua"
        script.write_text(LUA)
        with NginxInstance(root / "backend", bport).start():
            for name, (policies, use) in CONFIGS.items():
                case = root / name.replace(" ", "_").replace("+", "and")
                case.mkdir()
                bundle, port = build_gateway(case, f"127.0.0.1:{bport}", policies, [
                    {"name": "pets", "spec": str(PETSTORE), "base_path": "/v1", "use": use}
                ])
                conf = bundle / "nginx.conf"
                conf.write_text(re.sub(r"worker_processes \S+;", "worker_processes 1;", conf.read_text()))
                with NginxInstance(bundle, port).start():
                    out = subprocess.run(
                        ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}/v1/pets"],
                        capture_output=True, text=True, check=True,
                    ).stdout
                rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
                non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                print(f"{name:20s} {float(rps.group(1)) if rps else 0:10.0f} req/s  non-2xx: {non2xx.group(1) if non2xx else 0}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
