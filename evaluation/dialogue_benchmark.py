"""Turn latency through Rasa vs retrieval-only.

    .venv/bin/python -m evaluation.dialogue_benchmark [--turns 200]

Starts ``assistant up`` (Rasa, action server, app) on free loopback ports, then times, for our
held-out questions: a turn through Rasa's REST channel (NLU + policies + the custom action calling
the engine over HTTP), a whole chat API turn with Rasa as the backend (plus SQLite), and a
retrieval-only dialogue turn in process. Target (ARCHITECTURE §8): ≤ 80 ms p50 through Rasa.
Writes ``evaluation/reports/dialogue_latency.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from assistant.config import get_settings
from assistant.dialogue.manager import RetrievalDialogue
from assistant.dialogue.rasa_client import RasaDialogue
from assistant.qa.engine import QAEngine

HERE = Path(__file__).resolve().parent
TOKEN = "bench-" + os.urandom(8).hex()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def questions(n: int) -> list[str]:
    out = []
    for name in ("in_scope_heldout.jsonl", "out_of_scope.jsonl"):
        out += [json.loads(x)["question"] for x in (HERE / "datasets" / name).read_text("utf-8").splitlines() if x]
    return (out * (n // len(out) + 1))[:n]


def stats(ms: list[float]) -> dict[str, float]:
    a = np.array(ms)
    return {"n": len(ms), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "mean": float(a.mean()), "max": float(a.max())}


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and all its descendants (from /proc; Linux)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(times.get(pid, 0.0) for pid in tree)


def timed(fn, items) -> list[float]:
    out = []
    for i, q in enumerate(items):
        t = time.perf_counter()
        fn(i, q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    qs = questions(args.turns)
    port, rasa_port, actions_port = free_port(), free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="dialogue-bench-"))
    env = {**os.environ, "ASSISTANT_RASA_TOKEN": TOKEN, "ASSISTANT_DATABASE_URL": f"sqlite:///{work / 'chat.db'}",
           "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0", "ASSISTANT_LOG_LEVEL": "WARNING"}
    up = subprocess.Popen([str(Path(sys.executable).with_name("assistant")), "up", "--port", str(port),
                           "--rasa-port", str(rasa_port), "--actions-port", str(actions_port),
                           "--ready-timeout", "300"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/readyz", timeout=2).json().get("dialogue_backend") == "rasa":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if up.poll() is not None:
                sys.exit("assistant up exited; run scripts/setup-rasa.sh first")
            time.sleep(1)
        rasa = RasaDialogue(f"http://127.0.0.1:{rasa_port}", token=TOKEN, timeout=30)
        client = httpx.Client(timeout=30)
        warm = qs[:20]
        timed(lambda i, q: rasa.respond(q, {}, f"warm-{i}"), warm)
        load_before = os.getloadavg()[0]
        cpu_before = tree_cpu_seconds(up.pid)
        through_rasa = timed(lambda i, q: rasa.respond(q, {}, f"bench-{i}"), qs)
        cpu_per_turn_ms = (tree_cpu_seconds(up.pid) - cpu_before) * 1000 / len(qs)
        load_after = os.getloadavg()[0]
        api = timed(lambda i, q: client.post(base + "/api/v1/chat", json={"message": q}).raise_for_status(), qs)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)
    engine = QAEngine.load(get_settings())
    retrieval = RetrievalDialogue(engine)
    timed(lambda i, q: retrieval.respond(q, {}), qs[:20])
    retrieval_ms = timed(lambda i, q: retrieval.respond(q, {}), qs)
    report = {"turns": len(qs), "cores": os.cpu_count(), "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "rasa_rest_turn_ms": stats(through_rasa), "chat_api_turn_via_rasa_ms": stats(api),
              "retrieval_dialogue_turn_ms": stats(retrieval_ms), "target_p50_via_rasa_ms": 80,
              "rasa_turn_cpu_ms": round(cpu_per_turn_ms, 1), "load_average": [round(load_before, 2), round(load_after, 2)]}
    out = HERE / "reports"
    out.mkdir(exist_ok=True)
    (out / "dialogue_latency.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    rows = [("Rasa REST channel turn (NLU, policies, custom action → engine)", report["rasa_rest_turn_ms"]),
            ("chat API turn with Rasa backend (plus SQLite)", report["chat_api_turn_via_rasa_ms"]),
            ("retrieval-only dialogue turn (in process)", report["retrieval_dialogue_turn_ms"])]
    lines = ["# Dialogue turn latency: Rasa vs retrieval-only", "",
             f"{len(qs)} turns (held-out in-scope and out-of-scope questions, one new conversation each) on "
             f"{report['cores']} cores, measured {report['measured_at']}; Rasa, action server and app run together "
             "via `assistant up` on loopback.", "",
             "| path | p50 ms | p95 ms | mean ms | max ms |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {s['p50']:.1f} | {s['p95']:.1f} | {s['mean']:.1f} | {s['max']:.1f} |" for name, s in rows]
    p50 = report["rasa_rest_turn_ms"]["p50"]
    lines += ["", f"CPU per Rasa REST turn (Rasa + action server + app, all processes): {cpu_per_turn_ms:.1f} ms. "
              f"Load average {load_before:.2f} before and {load_after:.2f} after the Rasa turns "
              "(above ~0.5, other processes shared the 2 cores and wall times stretch).", "",
              f"Target ≤ 80 ms p50 through Rasa: {'met' if p50 <= 80 else 'NOT met'} ({p50:.1f} ms)."]
    (out / "dialogue_latency.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
