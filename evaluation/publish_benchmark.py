"""Publish while the chat API is under load: failed requests, time from publish to live, memory.

    .venv/bin/python -m evaluation.publish_benchmark [--connections 10]

Copies the corpus and the serving index to a temporary folder (the repository's ``knowledge_base/``
is never touched), starts ``assistant serve`` there on 127.0.0.1 with editor tokens and the rate
limit off, and drives ``/api/v1/chat`` with wrk (the Lua script of ``evaluation.load_test``). While
wrk runs, an editor changes one answer through the API and a publisher publishes it; a prober asks
that answer's question every 0.2 s to see when citizens get the new text; the server's RSS is
sampled every 0.1 s. Then the same under load for a rollback (the index exists: a pure swap).
Writes ``evaluation/reports/publish.{md,json}``. Records the load average: on a busy machine (other
jobs running) the build time grows, and the report says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from evaluation.load_test import LUA, REPORTS, free_port, lua_string, questions, wait_ready

TOKENS = {"bench-editor-token": "editor", "bench-publisher-token": "publisher"}
ENTRY = "cu_tru_dang_ky_tam_tru"
QUESTION = "Đăng ký tạm trú cần giấy tờ gì?"
MARK = "BẢN CẬP NHẬT ĐO THỬ:"


def call(base: str, path: str, body=None, token: str | None = None, method: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method or ("POST" if data else "GET"))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


class Sampler(threading.Thread):
    """RSS of the server every 0.1 s, with timestamps."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                self.samples.append((time.monotonic(), rss_mb(self.pid)))
            except OSError:
                return

    def between(self, t0: float, t1: float) -> list[float]:
        return [m for t, m in self.samples if t0 <= t <= t1] or [0.0]


def start_wrk(base: str, script: Path, connections: int, out: Path) -> subprocess.Popen:
    return subprocess.Popen(["wrk", "-t2", f"-c{connections}", "-d600s", "--timeout", "10s", "-s", str(script), base],
                            env={**os.environ, "WRK_JSON": str(out)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def stop_wrk(proc: subprocess.Popen, out: Path) -> dict:
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    data = json.loads(out.read_text())
    data["throughput_rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["error_total"] = data["non2xx"] + sum(v for k, v in data["errors"].items() if k != "status")
    return data


def wait_for_answer(base: str, want_mark: bool, t0: float, timeout: float) -> float | None:
    """Seconds after ``t0`` when the chat answer first shows (or stops showing) the mark."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = call(base, "/api/v1/chat", {"message": QUESTION})
        if status == 200 and (MARK in body["reply"]) == want_mark:
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def scenario(base: str, script: Path, work: Path, sampler: Sampler, args, action) -> dict:
    """Run wrk, do ``action`` after 5 s, wait until citizens see the change plus 5 s, stop wrk."""
    out = work / f"wrk-{time.monotonic_ns()}.json"
    load_before = loadavg()
    wrk = start_wrk(base, script, args.connections, out)
    time.sleep(5)
    t0 = time.monotonic()
    job, want_mark = action()
    seen = wait_for_answer(base, want_mark, t0, args.timeout)
    while job.get("state") == "building" and time.monotonic() - t0 < args.timeout:
        time.sleep(0.3)
        job = call(base, f"/api/v1/kb/publish/{job['id']}", token="bench-editor-token")[1]
    t_live = time.monotonic()
    time.sleep(5)
    load = stop_wrk(wrk, out)
    t_end = time.monotonic()
    before = sampler.between(t0 - 5, t0)
    return {"job": job, "citizens_see_change_s": None if seen is None else round(seen, 2), "wrk": load,
            "rss_mb": {"before": round(max(before), 1), "during": round(max(sampler.between(t0, t_live)), 1),
                       "after": round(sampler.between(t_live, t_end)[-1], 1)},
            "loadavg_before": load_before, "loadavg_after": loadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=420)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: run scripts/system-deps.sh")
    from assistant.config import get_settings
    from assistant.editor.versions import clone_workspace

    work = Path(tempfile.mkdtemp(prefix="publish-bench-"))
    s = clone_workspace(get_settings(), work)
    script = work / "chat.lua"
    script.write_text(LUA % ", ".join(lua_string(q) for q in questions()), encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ASSISTANT_KB_DIR": str(s.kb_dir), "ASSISTANT_DATA_DIR": str(s.data_dir),
           "ASSISTANT_MODEL_DIR": str(s.models_path), "ASSISTANT_DATABASE_URL": s.db_url,
           "ASSISTANT_EDITOR_TOKENS": json.dumps(TOKENS), "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0",
           "ASSISTANT_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([str(Path(sys.executable).with_name("assistant")), "serve", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = Sampler(server.pid)
    try:
        ready = wait_ready(base)
        sampler.start()
        old_version = ready["index_version"]
        warm = work / "warm.json"
        stop_wrk_after = start_wrk(base, script, 4, warm)
        time.sleep(3)
        stop_wrk(stop_wrk_after, warm)

        def publish():
            entry = call(base, f"/api/v1/kb/entries/{ENTRY}", token="bench-editor-token")[1]
            body = {k: v for k, v in entry.items() if k not in ("errors", "flags")}
            body["answer"] = f"{MARK} {body['answer']}"
            status, saved = call(base, f"/api/v1/kb/entries/{ENTRY}", body, "bench-editor-token", "PUT")
            assert status == 200, saved
            status, job = call(base, "/api/v1/kb/publish", {"message": "benchmark"}, "bench-publisher-token")
            assert status == 202, job
            return job, True

        def rollback():
            status, job = call(base, "/api/v1/kb/rollback", {"version": old_version}, "bench-publisher-token")
            assert status == 202, job
            return job, False

        runs = {"publish": scenario(base, script, work, sampler, args, publish),
                "rollback": scenario(base, script, work, sampler, args, rollback)}
        peak = max(m for _, m in sampler.samples)
    finally:
        sampler.stop.set()
        server.send_signal(signal.SIGINT)
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    report = {"cores": os.cpu_count(), "connections": args.connections, "server_peak_rss_mb": round(peak, 1),
              "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": runs,
              "baseline": baseline(args.connections)}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "publish.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    (REPORTS / "publish.md").write_text(render(report), encoding="utf-8")
    print(render(report))


def baseline(connections: int) -> dict | None:
    """The plain load test's run at the same concurrency, if there is one."""
    path = REPORTS / "load_test.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    for run in data.get("runs", []):
        if run.get("connections") == connections:
            return {**run, "measured_at": data.get("measured_at")}
    return None


def render(report: dict) -> str:
    lines = ["# Publishing under load", "",
             f"`assistant serve` (1 worker) on {report['cores']} cores; wrk with {report['connections']} connections "
             "POSTs held-out questions to `/api/v1/chat` (a new session each) for the whole run; 5 s after wrk starts an "
             "editor changes one answer and a publisher publishes it (then, in a second run, rolls back). Measured "
             f"{report['measured_at']} by `python -m evaluation.publish_benchmark`.", "",
             "| run | chat requests | failed (non-2xx + socket) | req/s | p50 ms | p99 ms | max ms | build s | "
             "switch → live s | publish → citizens see it s | server RSS before / during / after MB | build process peak MB | "
             "load avg before → after |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    disturbed = False
    for name, r in report["runs"].items():
        w, lat, t = r["wrk"], r["wrk"]["latency_us"], r["job"].get("timings_s", {})
        swap = round(t.get("live", 0) - t.get("pointer", 0), 2) if t else "–"
        disturbed |= r["loadavg_before"][0] > report["cores"] or r["loadavg_after"][0] > report["cores"] + 1
        lines.append(f"| {name} ({r['job'].get('state')}) | {w['requests']} | {w['error_total']} | {w['throughput_rps']:.1f} | "
                     f"{lat['p50'] / 1000:.0f} | {lat['p99'] / 1000:.0f} | {lat['max'] / 1000:.0f} | {t.get('build', '–')} | "
                     f"{swap} | {r['citizens_see_change_s']} | {r['rss_mb']['before']} / {r['rss_mb']['during']} / "
                     f"{r['rss_mb']['after']} | {t.get('build_peak_rss_mb', '–')} | "
                     f"{r['loadavg_before'][0]:.2f} → {r['loadavg_after'][0]:.2f} |")
    base = report.get("baseline")
    if base:
        lines += ["", f"For comparison, `evaluation/reports/load_test.json` at {base['connections']} connections with no "
                      f"publish: {base['throughput_rps']:.1f} req/s, p50 {base['latency_us']['p50'] / 1000:.0f} ms, "
                      f"p99 {base['latency_us']['p99'] / 1000:.0f} ms ({base['measured_at']})."]
    lines += ["", f"Server peak RSS over the whole run: {report['server_peak_rss_mb']} MB.", "",
              "- *build s*: building the new index in a child process at nice 10 while the old version serves; *switch → live*: loading the new version's corpus and index "
              "(the embedding model is shared) and swapping the engine references; *publish → citizens see it*: from "
              "the publish request to the first chat answer with the new text.",
              "- Failed requests count wrk's non-2xx responses and socket errors (connect, read, write, timeout)."]
    if disturbed:
        lines.append("- **Disturbed run**: the 1-minute load average exceeded the core count (other jobs were "
                     "running on this machine), so build time and latency are higher than on an idle machine.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
