"""SIP agent benchmark: simultaneous calls on this machine, CPU per call, answer latency.

Starts ``assistant sip`` (the real call core: Whisper base int8, the engine, espeak-ng) on 127.0.0.1, then
for each level N places N simultaneous sipp calls; each caller asks a Vietnamese question (PCMU RTP from
``../shared/eval/speech/``) and listens. Per level it records:

- answer latency, defined as in the Twilio benchmark (``evaluation/voice_benchmark.py``, ``voice.call_sim``):
  from the caller's last frame with speech (webrtcvad, ``voice.vad.Endpointer.is_voiced``) to the first
  frame of the answer, one figure per call (its first turn), p50/p95/max with ``numpy.percentile``. The
  difference: the Twilio figure is taken at the caller (sending the last speech frame → receiving the
  first answer frame), while sipp cannot time the audio it receives, so this one is taken inside the agent
  (the caller frame leaving PJSIP's jitter buffer → the answer frame handed to PJSIP's encoder, which
  sends it in the same 20 ms tick). On loopback the network adds nothing; the jitter buffer's delay on the
  caller's audio (a few tens of ms) is not counted, so a caller would hear the answer that much later;
- calls answered (an answer started) and sipp failures;
- CPU of the agent process (user+system from /proc) per call-second, i.e. the share of one core one
  call uses, speech recognition, dialogue and synthesis included;
- the load average before and after, since other work may share the 2 cores.

A level "holds" when every call was answered, with no SIP failure, and p95 latency stayed under 2.5 s.
One agent takes at most 3 callers (``ASSISTANT_SIP_MAX_CALLS``: PJSIP's build limit in the wheel is 4
calls, one kept for a transfer leg), so the levels above run against ``--scaled-agents`` agents behind
Kamailio's dispatcher (``voice/sip/kamailio``), all on the same 2 cores.

    .venv/bin/python -m evaluation.sip_benchmark [--levels 1,2,3] [--scaled-levels 4,6,8] [--scaled-agents 3]

Writes ``evaluation/reports/sip.md`` and ``sip.json``. Exit status: 0; 1 when an agent or Kamailio fails to
start or exits non-zero, or a level has a SIP failure or an unanswered call (a level that only misses the
latency bar is reported as not holding, not as a failure); 2 when sipp is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from voice.sip.options import MAX_CALLS
from voice.sip.probe import free_port

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "evaluation" / "reports"
SCENARIO = REPO / "tests" / "sip" / "scenarios" / "call_audio.xml"
SPEECH = REPO.parent / "shared" / "eval" / "speech"
HOLD_P95_MS = 2500


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process and its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float | None:
    """As the Twilio benchmark's ``_pct``: ``numpy.percentile`` (linear), q in 0–100, rounded to 0.1 ms."""
    return round(float(np.percentile(values, q)), 1) if values else None


class AgentProcess:
    def __init__(self, port: int, db: Path):
        self.port = port
        env = dict(os.environ, PYTHONUNBUFFERED="1", ASSISTANT_DATABASE_URL=f"sqlite:///{db}",
                   ASSISTANT_SIP_MAX_CALLS=str(MAX_CALLS), TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
        env.pop("ASSISTANT_RASA_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "assistant.cli.main", "sip", "--host", "127.0.0.1",
                                      "--port", str(port), "--rtp-port", str(free_port())],
                                     cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("ready: SIP"):
                self.ready.set()

    def summaries(self, start: int) -> list[dict]:
        marker = "call summary "
        return [json.loads(x.split(marker, 1)[1]) for x in self.lines[start:] if marker in x]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return -9
        return self.proc.returncode


def run_level(agents: list[AgentProcess], port: int, n: int, workdir: Path, listen_s: float) -> dict:
    from voice.sip.rtp_pcap import RtpPcap

    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCENARIO, workdir / SCENARIO.name)
    pcap = RtpPcap().silence(300).wav(SPEECH / "vi_natural_04.wav").silence(300)
    pcap.write(workdir / "caller.pcap")
    starts = [len(a.lines) for a in agents]
    load_before = os.getloadavg()
    cpu0, t0 = sum(cpu_seconds(a.proc.pid) for a in agents), time.monotonic()
    argv = ["sipp", "-sf", SCENARIO.name, f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(free_port()),
            "-mp", str(free_port()), "-m", str(n), "-l", str(n), "-r", str(n), "-d",
            str(int(pcap.duration_ms + listen_s * 1000)), "-s", "1000", "-nostdin", "-timeout", "120s"]
    result = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=180)
    deadline = time.monotonic() + 20
    def summaries() -> list[dict]:
        return [c for a, start in zip(agents, starts) for c in a.summaries(start)]

    while len(summaries()) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    cpu1, t1 = sum(cpu_seconds(a.proc.pid) for a in agents), time.monotonic()
    calls = summaries()
    latencies = [c["latencies_ms"][0] for c in calls if c["latencies_ms"]]
    call_seconds = sum(c["duration_s"] for c in calls) or 1.0
    row = {
        "agents": len(agents), "calls": n, "sipp_exit": result.returncode, "summaries": len(calls), "answered": len(latencies),
        "latency_p50_ms": pct(latencies, 50), "latency_p95_ms": pct(latencies, 95),
        "latency_max_ms": round(max(latencies), 1) if latencies else None,
        "cpu_s": round(cpu1 - cpu0, 1), "wall_s": round(t1 - t0, 1),
        "cpu_per_call_pct": round(100 * (cpu1 - cpu0) / call_seconds, 1),
        "agent_cpu_pct_of_2_cores": round(100 * (cpu1 - cpu0) / (t1 - t0) / 2, 1),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    row["failed"] = result.returncode != 0 or row["answered"] != n
    row["holds"] = (not row["failed"] and row["latency_p95_ms"] is not None and row["latency_p95_ms"] <= HOLD_P95_MS)
    return row


def peak_rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def start_kamailio(workdir: Path, agent_ports: list[int]) -> tuple[subprocess.Popen, int]:
    from voice.sip.kamailio import render
    from voice.sip.probe import options_ping

    port = free_port()
    cfg = render(workdir, f"127.0.0.1:{port}", [f"127.0.0.1:{p}" for p in agent_ports])
    (workdir / "run").mkdir()
    proc = subprocess.Popen([shutil.which("kamailio") or "/usr/sbin/kamailio", "-f", str(cfg), "-DD", "-E",
                             "-m", "32", "-M", "8", "-Y", str(workdir / "run")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 15
    while options_ping("127.0.0.1", port) != 200:
        if time.monotonic() > deadline or proc.poll() is not None:
            stop_kamailio(proc)
            raise RuntimeError("kamailio did not start")
        time.sleep(0.3)
    return proc, port


def stop_kamailio(proc: subprocess.Popen) -> None:
    """Kamailio and its worker processes (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def report(rows: list[dict], meta: dict) -> str:
    held = [r["calls"] for r in rows if r["holds"]]
    lines = [
        "# SIP agent benchmark", "",
        f"Machine: {meta['cpus']} CPUs ({meta['machine']}), Python {meta['python']}, {meta['date']}. "
        f"`assistant sip` with Whisper base int8 ({meta['stt_threads']} threads), retrieval dialogue (no Rasa), "
        "espeak-ng; callers are sipp processes on the same machine playing a 4.5 s Vietnamese question "
        "(PCMU RTP) and listening; all on 127.0.0.1.", "",
        "| agents | simultaneous calls | answered | sipp | latency p50 / p95 / max (ms) | agent CPU per call "
        "(% of a core) | agents' CPU (% of 2 cores) | load avg before → after | holds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lat = (f"{r['latency_p50_ms']} / {r['latency_p95_ms']} / {r['latency_max_ms']}"
               if r["latency_p50_ms"] is not None else "—")
        agents = "1" if r["agents"] == 1 else f"{r['agents']} behind Kamailio"
        lines.append(f"| {agents} | {r['calls']} | {r['answered']}/{r['calls']} | {'ok' if r['sipp_exit'] == 0 else 'failed'} "
                     f"| {lat} | {r['cpu_per_call_pct']} | {r['agent_cpu_pct_of_2_cores']} "
                     f"| {r['load_before'][0]} → {r['load_after'][0]} | {'yes' if r['holds'] else 'no'} |")
    lines += [
        "",
        f"Most simultaneous calls that held (all answered, no SIP failure, p95 ≤ {HOLD_P95_MS} ms): "
        f"**{max(held) if held else 0}** on this 2-core machine. One agent process takes at most "
        f"{meta.get('max_calls', MAX_CALLS)} callers (`PJSUA_MAX_CALLS` of the pjsua2-python build is 4; one slot "
        "stays free for a transfer leg; a full agent answers 503 + Retry-After and Kamailio tries the next); "
        f"beyond that, agents are added behind Kamailio's dispatcher (peak RSS per agent: "
        f"{meta.get('agent_rss_mb', '?')} MB).", "",
        "**How latency is measured.** As in the Twilio benchmark (`voice.call_sim`): from the caller's last "
        "frame with speech (webrtcvad, the core's own voice detector) to the first frame of the answer, one "
        "figure per call, p50/p95 by `numpy.percentile`. The Twilio figure is timed at the caller; sipp cannot "
        "time the audio it receives, so this one is timed inside the agent: from the caller's frame leaving "
        "PJSIP's jitter buffer to the answer frame handed to PJSIP's encoder (sent as RTP in the same 20 ms "
        "tick). Loopback adds no network delay; the jitter buffer's few tens of ms on the caller's audio are "
        "not counted. It includes the 600 ms end-of-turn silence, Whisper, the dialogue and synthesis (answers "
        "are pre-rendered, so mostly a cache hit). "
        "CPU per call is the agent's CPU time over the summed call durations (SIP, RTP, codec, VAD, "
        "Whisper, dialogue, synthesis); sipp's own CPU is not counted. Calls in a level start together, so "
        "their Whisper jobs queue behind one another: the p95 grows with the level.", "",
        f"Load average at start: {meta['load_start']}. {meta['disturbed']} The agents themselves used at most "
        f"{max((r['agent_cpu_pct_of_2_cores'] for r in rows), default=0)} % of the two cores while the 1-minute "
        f"load reached {max((r['load_after'][0] for r in rows), default=0)}: under such load the latencies "
        "measure the wait for a core more than the agent's own cost.", "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default=",".join(str(i) for i in range(1, MAX_CALLS + 1)),
                    help=f"levels run on one agent (at most {MAX_CALLS} calls)")
    ap.add_argument("--scaled-levels", default="4,6,8",
                    help="levels run on --scaled-agents agents behind Kamailio ('' = none)")
    ap.add_argument("--scaled-agents", type=int, default=3)
    ap.add_argument("--listen-s", type=float, default=10.0)
    args = ap.parse_args()
    if shutil.which("sipp") is None:
        print("sipp is missing: bash scripts/system-deps.sh", file=sys.stderr)
        return 2
    from assistant.config import get_settings

    load_start = [round(x, 2) for x in os.getloadavg()]
    rows: list[dict] = []
    rss: list[int] = []
    code = 0
    with tempfile.TemporaryDirectory(prefix="sip-bench-") as tmp:
        plans = [(1, args.levels), (args.scaled_agents, args.scaled_levels)]
        for n_agents, levels in plans:
            if not levels.strip():
                continue
            ports = [free_port() for _ in range(n_agents)]
            agents = [AgentProcess(p, Path(tmp) / "calls.db") for p in ports]
            kamailio = None
            try:
                for a in agents:
                    deadline = time.monotonic() + 300
                    while not a.ready.wait(1) and a.proc.poll() is None and time.monotonic() < deadline:
                        pass
                    if not a.ready.is_set():
                        print("\n".join(a.lines[-30:]), file=sys.stderr)
                        return 1
                target = ports[0]
                if n_agents > 1:
                    kamailio, target = start_kamailio(Path(tmp) / "kamailio", ports)
                for n in (int(x) for x in levels.split(",")):
                    row = run_level(agents, target, n, Path(tmp) / f"a{n_agents}-level{n}", args.listen_s)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
                    if row["failed"]:
                        print(f"level {n} on {n_agents} agent(s) failed: sipp exit {row['sipp_exit']}, "
                              f"{row['answered']}/{n} answered", file=sys.stderr)
                        code = 1
                    time.sleep(2)
                rss += [peak_rss_mb(a.proc.pid) for a in agents]
            except RuntimeError as exc:  # Kamailio did not start
                print(f"sip benchmark: {exc}", file=sys.stderr)
                code = 1
            finally:
                if kamailio is not None:
                    stop_kamailio(kamailio)
                for a in agents:
                    exit_code = a.stop()
                    if exit_code != 0:
                        print(f"agent on port {a.port} exited with {exit_code}:\n" + "\n".join(a.lines[-30:]),
                              file=sys.stderr)
                        code = 1
    busy = max(load_start[0], *(r["load_before"][0] for r in rows)) if rows else load_start[0]
    meta = {
        "cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "stt_threads": get_settings().stt_threads,
        "load_start": load_start, "exit_status": code, "agent_rss_mb": max(rss) if rss else None,
        "max_calls": MAX_CALLS, "scaled_agents": args.scaled_agents,
        "disturbed": ("Disturbed: other work was running on the machine (1-minute load ≥ 1 before a level), "
                      "so latencies and CPU shares are pessimistic." if busy >= 1.0 else "Undisturbed run."),
    }
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "sip.json").write_text(json.dumps({"meta": meta, "levels": rows}, indent=2) + "\n")
    (REPORTS / "sip.md").write_text(report(rows, meta))
    print((REPORTS / "sip.md").read_text())
    return code


if __name__ == "__main__":
    sys.exit(main())
