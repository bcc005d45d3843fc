"""Load test of the chat API on loopback with wrk (Debian package ``wrk``).

    .venv/bin/python -m evaluation.load_test [--duration 20] [--connections 10 50]

Starts ``assistant serve`` on a free 127.0.0.1 port with a throw-away SQLite database and the rate
limit off, waits for ``/readyz``, then for each concurrency runs wrk with a Lua script that POSTs
questions from our held-out sets (one new session per request) to ``/api/v1/chat``. Reports
throughput, latency percentiles and errors (non-2xx, socket errors) in
``evaluation/reports/load_test.{md,json}``. Traffic goes to 127.0.0.1 only, for a bounded time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORTS = HERE / "reports"

LUA = """
local questions = {%s}
local i = 0
request = function()
  i = i + 1
  local body = '{"session_id": null, "message": ' .. questions[(i %% #questions) + 1] .. '}'
  return wrk.format("POST", "/api/v1/chat", {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status ~= 200 then bad = (bad or 0) + 1 end
end
done = function(summary, latency, requests)
  local out = io.open(os.getenv("WRK_JSON"), "w")
  out:write(string.format('{"requests": %%d, "duration_us": %%d, "non2xx": %%d, ' ..
    '"errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d, "status": %%d}, ' ..
    '"latency_us": {"p50": %%d, "p90": %%d, "p95": %%d, "p99": %%d, "max": %%d, "mean": %%f}}',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
  out:close()
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def questions() -> list[str]:
    out = []
    for name in ("in_scope_heldout.jsonl", "out_of_scope.jsonl"):
        for line in (HERE / "datasets" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["question"])
    return out


def lua_string(text: str) -> str:
    """A Lua string literal holding the JSON encoding of ``text``."""
    encoded = json.dumps(text, ensure_ascii=True)
    return "'" + encoded.replace("\\", "\\\\").replace("'", "\\'") + "'"


def wait_ready(base: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("server not ready")


def run_wrk(base: str, script: Path, connections: int, duration: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    env = {**os.environ, "WRK_JSON": str(out)}
    threads = min(2, connections)
    subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
                    "-s", str(script), base], check=True, capture_output=True, text=True, env=env)
    data = json.loads(out.read_text())
    out.unlink()
    data["connections"] = connections
    data["throughput_rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["error_total"] = data["non2xx"] + sum(v for k, v in data["errors"].items() if k != "status")
    return data


def server_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(m.group(1)) / 1024 if m else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, nargs="+", default=[10, 50])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="loadtest-"))
    script = work / "chat.lua"
    script.write_text(LUA % ", ".join(lua_string(q) for q in questions()), encoding="utf-8")
    env = {**os.environ, "ASSISTANT_DATABASE_URL": f"sqlite:///{work / 'chat.db'}",
           "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0", "ASSISTANT_LOG_LEVEL": "WARNING"}
    exe = Path(sys.executable).with_name("assistant")
    server = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = wait_ready(base)
        run_wrk(base, script, 4, 3)  # warm-up
        runs = [run_wrk(base, script, c, args.duration) for c in args.connections]
        rss = server_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    report = {"index_version": ready.get("index_version"), "duration_s": args.duration, "cores": os.cpu_count(),
              "server_peak_rss_mb": round(rss, 1), "runs": runs,
              "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "load_test.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    lines = ["# Chat API load test (wrk, loopback)", "",
             f"One `assistant serve` process (uvicorn, 1 worker) on {report['cores']} cores, index "
             f"`{report['index_version']}`, SQLite, rate limit off; each request is a new session asking one of "
             f"our held-out questions. {args.duration} s per run, measured {report['measured_at']}.", "",
             "| connections | requests | throughput (req/s) | p50 ms | p90 ms | p95 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lat = r["latency_us"]
        lines.append(f"| {r['connections']} | {r['requests']} | {r['throughput_rps']:.1f} | {lat['p50'] / 1000:.1f} | "
                     f"{lat['p90'] / 1000:.1f} | {lat['p95'] / 1000:.1f} | {lat['p99'] / 1000:.1f} | {r['error_total']} |")
    lines += ["", f"Server peak RSS: {report['server_peak_rss_mb']} MB."]
    (REPORTS / "load_test.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
