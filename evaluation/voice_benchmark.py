"""Voice benchmark: answer latency, recognition accuracy, concurrent calls, model assembly.

    .venv/bin/python -m evaluation.voice_benchmark [--quick] [--out evaluation/reports]

Starts ``assistant serve`` on 127.0.0.1 in its own process (the real engine, Whisper base,
pre-rendered answers; retrieval dialogue) and places calls from this process with
:mod:`voice.call_sim`, i.e. through the signed webhook and the Media Streams protocol, caller audio
paced in real time. Writes ``voice.json`` and ``voice.md``.

1. **Latency**: each recording of ``../shared/eval/speech`` as one call, one after another;
   ``first_audio_after_speech_ms`` = last caller frame with speech (webrtcvad) → first answer frame.
   It includes the 600 ms end-of-turn silence. p50/p95 (target ≤ 800 ms).
2. **Accuracy**: WER and CER (jiwer; lower-cased, punctuation removed) of Whisper base on the same
   recordings after an 8 kHz μ-law round trip, for the production path (``fit`` window) and
   faster-whisper's own 30 s window (``full``).
3. **Concurrency**: N calls at once (starts spread over 2 s, so their turns end together: a burst),
   N = 1, 2, 4, 6 (8 unless ``--quick``). A level **keeps up with real time** when every call is
   answered, no answer takes over 3 s and the callers' 20 ms audio pacing never fell more than 200 ms
   behind (the server kept reading audio as fast as it came). It is **interactive** when, on top of
   that, the p95 latency is ≤ 1,500 ms.
4. **Model assembly**: Whisper base concatenated and checked into a temporary folder (time, size).

The machine may be shared (2 cores): the load average is recorded before and after each part.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import httpx

from assistant.config import Settings, get_settings

AUTH = "benchmark-auth-token"
CALLS = "benchmark-calls-token"
PUBLIC = "https://hotline.example.test"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def recordings(settings: Settings) -> list[tuple[Path, str]]:
    folder = settings.shared_dir / "eval" / "speech"
    out = [(w, w.with_suffix(".txt").read_text(encoding="utf-8").strip()) for w in sorted(folder.glob("*.wav"))
           if w.with_suffix(".txt").is_file()]
    if not out:
        raise SystemExit(f"no recordings with transcripts in {folder}")
    return out


def accuracy(stt_by_window: dict[str, Any], items: list[tuple[Path, str]]) -> dict[str, Any]:
    import jiwer

    from voice.audio import mulaw_decode, mulaw_encode, read_wav, resample

    result: dict[str, Any] = {}
    for window, stt in stt_by_window.items():
        refs, hyps, seconds, audio = [], [], [], 0.0
        for wav, ref in items:
            pcm, _ = read_wav(wav, 8000)
            phone = resample(mulaw_decode(mulaw_encode(pcm)), 8000, 16000)
            t = stt.transcribe(phone)
            refs.append(_norm(ref))
            hyps.append(_norm(t.text) or "<empty>")
            seconds.append(t.elapsed_s)
            audio += t.audio_s
        result[window] = {"wer": round(jiwer.wer(refs, hyps), 4), "cer": round(jiwer.cer(refs, hyps), 4),
                          "decode_ms_p50": _pct([s * 1000 for s in seconds], 50),
                          "real_time_factor": round(sum(seconds) / audio, 3),
                          "samples": [{"ref": r, "hyp": h} for r, h in zip(refs[:4], hyps[:4])]}
    return result


async def _call(url: str, wav: Path, delay: float = 0.0) -> dict[str, Any]:
    from voice.call_sim import simulate_call

    await asyncio.sleep(delay)
    started = time.monotonic()
    r = await simulate_call(url, wav, auth_token=AUTH, public_url=PUBLIC, calls_token=CALLS, realtime=True,
                            playback_rate=0, answer_timeout_s=30)
    return {"file": wav.name, "latency_ms": r.first_audio_after_speech_ms, "error": r.error,
            "transcript": r.transcript, "answered_audio": r.answer_frames > 0, "server": r.server_timings,
            "wall_s": round(time.monotonic() - started, 2)}


def _pacing_probe(loop_lag: list[float]):
    """A task measuring how late a 20 ms timer fires on the client loop (the callers' pacing)."""

    async def probe():
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.02)
            loop_lag.append((time.monotonic() - t - 0.02) * 1000)

    return probe()


async def concurrent(url: str, wavs: list[Path], n: int, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed + n)
    lag: list[float] = []
    probe = asyncio.create_task(_pacing_probe(lag))
    calls = await asyncio.gather(*[_call(url, wavs[i % len(wavs)], rng.uniform(0, 2.0)) for i in range(n)])
    probe.cancel()
    lat = [c["latency_ms"] for c in calls if c["latency_ms"] is not None]
    ok = len(lat) == n and all(c["error"] is None for c in calls)
    p95 = _pct(lat, 95)
    max_lag = round(max(lag), 1) if lag else None
    keeps_up = bool(ok and (max_lag or 0) <= 200 and max(lat) <= 3000)
    return {"calls": n, "answered": len(lat), "latency_p50_ms": _pct(lat, 50), "latency_p95_ms": p95,
            "latency_max_ms": round(max(lat), 1) if lat else None, "pacing_max_lag_ms": max_lag,
            "real_time": keeps_up, "interactive": bool(keeps_up and p95 is not None and p95 <= 1500),
            "load": _load()}


def _wait_ready(url: str, server: subprocess.Popen, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def _largest_passing(levels: list[dict[str, Any]], key: str) -> int:
    """The largest number of calls such that it and every smaller level passed."""
    best = 0
    for level in levels:
        if not level[key]:
            break
        best = level["calls"]
    return best


def assembly() -> dict[str, Any]:
    from voice.whisper_model import MODEL_BYTES, provision_whisper_base

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        folder = provision_whisper_base(Path(tmp), verify=True)
        seconds = time.perf_counter() - started
        size = sum(f.stat().st_size for f in folder.iterdir())
    return {"seconds": round(seconds, 2), "model_bin_bytes": MODEL_BYTES, "folder_bytes": size}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("evaluation/reports"))
    args = parser.parse_args(argv)

    from voice.local_server import free_port
    from voice.stt import WhisperSTT
    from voice.whisper_model import provision_whisper_base

    base = get_settings()
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                          "load_at_start": _load()}}
    report["assembly"] = assembly()
    provision_whisper_base(base.models_path)
    items = recordings(base)
    load_before = _load()
    report["accuracy"] = accuracy({"fit": WhisperSTT(base), "full": WhisperSTT(base, window="full")}, items)
    report["accuracy"]["load"] = [load_before, _load()]
    report["accuracy"]["files"] = len(items)
    print(f"accuracy: {report['accuracy']['fit']['wer']:.1%} WER (fit)", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="voice-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ASSISTANT_DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}", ASSISTANT_PUBLIC_URL=PUBLIC,
               ASSISTANT_TWILIO_AUTH_TOKEN=AUTH, ASSISTANT_CALLS_TOKEN=CALLS, ASSISTANT_RATE_LIMIT_PER_MINUTE="0",
               ASSISTANT_SILENCE_TIMEOUT_S="60", ASSISTANT_LOG_LEVEL="WARNING")
    exe = Path(sys.executable).with_name("assistant")
    with (tmp / "server.log").open("wb") as log:
        server = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(url, server)
        wavs = [w for w, _ in items]
        asyncio.run(_call(url, wavs[0]))  # warm-up: loads the voice services, first-call costs
        asyncio.run(_call(url, wavs[1]))
        load_before = _load()
        calls = [asyncio.run(_call(url, w)) for w in (wavs[:6] if args.quick else wavs)]
        lat = [c["latency_ms"] for c in calls if c["latency_ms"] is not None]
        server_ms = [c["server"] for c in calls if c["server"]]
        report["latency"] = {"calls": len(calls), "answered": len(lat), "p50_ms": _pct(lat, 50),
                             "p95_ms": _pct(lat, 95), "max_ms": round(max(lat), 1) if lat else None,
                             "stt_after_speech_ms_p50": _pct([t.get("transcript_after_speech_ms", 0)
                                                              for t in server_ms], 50),
                             "stt_ms_p50": _pct([t.get("stt_ms", 0) for t in server_ms], 50),
                             "dialogue_ms_p50": _pct([t.get("dialogue_ms", 0) for t in server_ms], 50),
                             "per_call": calls, "load": [load_before, _load()]}
        print(f"latency p50 {report['latency']['p50_ms']} ms", file=sys.stderr)
        levels = [1, 2, 4, 6] if args.quick else [1, 2, 4, 6, 8]
        report["concurrency"] = []
        for n in levels:
            report["concurrency"].append(asyncio.run(concurrent(url, wavs, n)))
            print(f"{n} calls: {report['concurrency'][-1]}", file=sys.stderr)
        report["concurrency_max_real_time"] = _largest_passing(report["concurrency"], "real_time")
        report["concurrency_max_interactive"] = _largest_passing(report["concurrency"], "interactive")
    finally:
        server.terminate()
        server.wait(timeout=30)
    report["machine"]["load_at_end"] = _load()
    write(report, args.out)


def write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "voice.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lat, acc, asm = report["latency"], report["accuracy"], report["assembly"]
    lines = [
        "# Voice benchmark", "",
        f"{report['machine']['cpus']} CPUs; load average at start {report['machine']['load_at_start']}, "
        f"at end {report['machine']['load_at_end']} (other work shares the machine; see each part).", "",
        "## First answer audio after end of speech (real calls over uvicorn + Media Streams)", "",
        "| calls | p50 | p95 | max | transcript ready after speech (p50) | Whisper decode (p50) | dialogue (p50) "
        "| load avg (before → after) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {lat['answered']}/{lat['calls']} | {lat['p50_ms']} ms | {lat['p95_ms']} ms | {lat['max_ms']} ms | "
        f"{lat['stt_after_speech_ms_p50']} ms | {lat['stt_ms_p50']} ms | {lat['dialogue_ms_p50']} ms | "
        f"{lat['load'][0]} → {lat['load'][1]} |", "",
        "Includes the 600 ms end-of-turn silence. Target p50 ≤ 800 ms. The recordings are general sentences, "
        "so most replies are the (pre-rendered) out-of-scope answer.", "",
        f"## Recognition after an 8 kHz μ-law round trip ({acc['files']} recordings, Whisper base int8, vi)", "",
        "| window | WER | CER | decode p50 | real-time factor |", "|---|---|---|---|---|",
    ]
    for window in ("fit", "full"):
        a = acc[window]
        lines.append(f"| {window} | {a['wer']:.1%} | {a['cer']:.1%} | {a['decode_ms_p50']} ms | {a['real_time_factor']} |")
    lines += ["", f"load average {acc['load'][0]} → {acc['load'][1]}", "",
              "## Simultaneous calls (starts spread over 2 s)", "",
              "| calls | answered | p50 | p95 | max | caller pacing max lag | keeps up | interactive | load avg |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in report["concurrency"]:
        lines.append(f"| {c['calls']} | {c['answered']} | {c['latency_p50_ms']} ms | {c['latency_p95_ms']} ms | "
                     f"{c['latency_max_ms']} ms | {c['pacing_max_lag_ms']} ms | {'yes' if c['real_time'] else 'no'} | "
                     f"{'yes' if c['interactive'] else 'no'} | {c['load']} |")
    lines += ["", f"Most simultaneous calls keeping up with real time: **{report['concurrency_max_real_time']}** "
              f"(target ≥ 4); interactive (p95 ≤ 1.5 s): **{report['concurrency_max_interactive']}**. "
              "Keeps up = all answered, none over 3 s, caller audio pacing lag ≤ 200 ms.", "",
              "## Whisper base assembly (set-up)", "",
              f"{asm['seconds']} s including md5 verification; model.bin {asm['model_bin_bytes']:,} bytes, "
              f"folder {asm['folder_bytes']:,} bytes.", ""]
    (out / "voice.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
