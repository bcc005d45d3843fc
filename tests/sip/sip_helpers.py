"""Helpers of the SIP tests (processes, ports, sipp). SIP tests with real peers on 127.0.0.1: sipp (sip-tester), baresip, kamailio, and the real agent.

The Debian packages come from ``scripts/system-deps.sh`` (run by ``scripts/test.sh``); a missing one is a
failure, not a skip. One ``assistant sip`` process (real call core: Whisper, the engine, espeak-ng) serves
most tests; :mod:`tone_agent` processes (a fake core) serve the tests about SIP alone.

Every process a test starts is stopped by a fixture finalizer (``procs`` in conftest.py), whatever the test's
outcome; a process whose start-up wait fails is stopped at once; and whatever is still alive when the
interpreter exits (pytest interrupted) is killed with its process group.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from voice.sip.probe import free_port, options_ping  # noqa: F401  (re-exported for the tests)

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
SPEECH = REPO.parent / "shared" / "eval" / "speech"


def need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        pytest.fail(f"{binary} is not installed: run scripts/system-deps.sh (Debian sip-tester, baresip, kamailio)")
    return path




_LIVE: set[Proc] = set()


@atexit.register
def _kill_leftovers() -> None:
    for p in list(_LIVE):
        p.kill()


class Proc:
    """A child process whose output lines are collected (and searchable) as they come.

    It runs in a session of its own (a Ctrl-C meant for pytest does not reach it first, and its children
    go with it on ``kill``), so it must be stopped explicitly: use the ``procs`` fixture."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
                 core_dumps: bool = False):
        self.argv = argv
        self.cwd = Path(cwd or os.getcwd())
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=cwd, text=True, errors="replace", start_new_session=True,
                                     preexec_fn=_allow_core_dump if core_dumps else None)
        _LIVE.add(self)
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 30.0, start: int = 0) -> re.Match:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = start
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                if self.proc.poll() is not None and seen == len(self.lines):
                    raise AssertionError(f"process exited ({self.proc.returncode}) before /{pattern}/:\n"
                                         + "\n".join(self.lines[-40:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"/{pattern}/ not seen in {timeout} s:\n" + "\n".join(self.lines[-40:]))
                self._cond.wait(min(left, 0.5))

    def matches(self, pattern: str, start: int = 0) -> list[re.Match]:
        rx = re.compile(pattern)
        with self._cond:
            return [m for m in (rx.search(x) for x in self.lines[start:]) if m]

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL to the process group after ``timeout``; the exit code (idempotent)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.lines.append(f"--- still running {timeout} s after SIGTERM: SIGUSR1 (thread dump), SIGKILL ---")
                self.proc.send_signal(signal.SIGUSR1)  # Python agents dump their threads' stacks (faulthandler)
                time.sleep(1.0)
                self.kill()
        self.kill()  # children it may have left in its group (Kamailio's workers)
        self._pump.join(5)
        return self.proc.returncode

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        _LIVE.discard(self)


def _allow_core_dump() -> None:  # in the child, before exec
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def native_backtrace(proc: Proc, dest: Path) -> str:
    """After ``proc`` died of a signal: the native stacks of its threads from its core file, written to ``dest``.

    Python's faulthandler shows only the Python frames of a crash inside PJSIP or another extension; the
    core (``kernel.core_pattern`` ``core``: written in the process's working directory) holds the rest. The
    core is deleted once read (it is as large as the process). Empty when there is no core."""
    cores = [p for p in (proc.cwd / "core", proc.cwd / f"core.{proc.proc.pid}") if p.is_file()]
    if not cores:
        return ""
    gdb = shutil.which("gdb")
    try:
        if gdb is None:
            return f"(a core file was written, but gdb is not installed to read it: {cores[0]})"
        out = subprocess.run([gdb, "-q", "-batch", "-iex", "set auto-load safe-path /", "-ex", "bt 40",
                              "-ex", "echo ==== all threads ====\\n", "-ex", "info threads",
                              "-ex", "thread apply all bt 30", proc.argv[0], str(cores[0])],
                             capture_output=True, text=True, timeout=300)
        dest.write_text(out.stdout + out.stderr)
        crashed = out.stdout.split("==== all threads ====")[0]  # the thread that received the signal
        return f"native backtrace of the crashed thread (all threads: {dest}):\n{crashed[-6000:]}"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(could not read the core file {cores[0]}: {exc})"
    finally:
        for core in cores:
            core.unlink(missing_ok=True)


class Agent(Proc):
    def __init__(self, argv: list[str], port: int, **kw):
        super().__init__(argv, **kw)
        self.host, self.port = "127.0.0.1", port

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


def wait_until(check, timeout: float = 15.0, interval: float = 0.2):
    """Poll ``check()`` until it returns something truthy; that value (or the last one after the timeout)."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


def started(proc: Proc, pattern: str, timeout: float) -> Proc:
    """``proc`` once ``pattern`` appeared in its output; stopped (and the error raised) if it did not."""
    try:
        proc.wait_for(pattern, timeout=timeout)
    except BaseException:
        proc.stop(5)
        raise
    return proc


def start_tone_agent(*args: str, port: int | None = None, name: str = "agent") -> Agent:
    port = port or free_port()
    a = Agent([sys.executable, str(HERE / "tone_agent.py"), "--port", str(port), "--rtp-port", str(free_port()),
               "--name", name, *args], port, cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    return started(a, r"^ready", timeout=30)


def start_kamailio(workdir: Path, agents: list[int]) -> Proc:
    """Kamailio with this repository's kamailio.cfg on a free loopback port, in front of ``agents``; ready once
    it answers OPTIONS itself."""
    from voice.sip.kamailio import render

    port = free_port()
    cfg = str(render(workdir, f"127.0.0.1:{port}", [f"127.0.0.1:{p}" for p in agents], children=1, debug=2))
    run = workdir / "run"
    run.mkdir(parents=True, exist_ok=True)
    k = Proc([need("kamailio"), "-f", cfg, "-DD", "-E", "-m", "32", "-M", "8", "-Y", str(run)], cwd=workdir)
    k.port = port
    try:
        assert wait_until(lambda: k.proc.poll() is not None or options_ping("127.0.0.1", port, 0.3) == 200,
                          timeout=15), "kamailio did not answer OPTIONS:\n" + "\n".join(k.lines[-40:])
        assert k.proc.poll() is None, "kamailio exited:\n" + "\n".join(k.lines[-40:])
    except BaseException:
        k.stop(5)
        raise
    return k


def sipp_argv(scenario: str, target: str, *, calls: int = 1, limit: int = 1, rate: int | None = None,
              duration_ms: int = 1000, transport: str = "u1", extra: list[str] | None = None,
              timeout: float = 90.0, keys: dict[str, str] | None = None) -> list[str]:
    keys = {"caller": "caller", "rtp_port": "9", **(keys or {})}
    argv = [need("sipp"), "-sf", scenario, target, "-i", "127.0.0.1", "-p", str(free_port()),
            "-mp", str(free_port()), "-m", str(calls), "-l", str(limit), "-r", str(rate or limit),
            "-d", str(duration_ms), "-t", transport, "-s", "1000", "-nostdin", "-trace_err", "-trace_msg",
            "-timeout_error", "-timeout", f"{int(timeout)}s"]
    for k, v in keys.items():
        argv += ["-key", k, v]
    return argv + list(extra or [])


def _prepare(workdir: Path, scenario: str) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCENARIOS / scenario, workdir / scenario)


def run_sipp(workdir: Path, scenario: str, target: str, *, timeout: float = 90.0,
             **kw) -> subprocess.CompletedProcess:
    """Run one sipp scenario from ``workdir`` (where its pcap files are) and return the finished process.

    Scenarios may use the keys ``[caller]`` (the From user, default ``caller``) and ``[rtp_port]`` (the
    audio port offered in the SDP, default 9 = discard; give a :class:`RtpSink` port to receive the agent's
    RTP)."""
    _prepare(workdir, scenario)
    return subprocess.run(sipp_argv(scenario, target, timeout=timeout, **kw), cwd=workdir, capture_output=True,
                          text=True, timeout=timeout + 15)


def start_sipp(workdir: Path, scenario: str, target: str, *, timeout: float = 60.0, **kw) -> Proc:
    """A sipp caller in the background (e.g. a long call holding a slot); ``.proc.wait()`` waits for it."""
    _prepare(workdir, scenario)
    return Proc(sipp_argv(scenario, target, timeout=timeout, **kw), cwd=workdir)


def start_sipp_server(workdir: Path, scenario: str, port: int, *, calls: int = 1, timeout: float = 60.0) -> Proc:
    """A sipp UAS (e.g. the officer's phone) answering ``calls`` calls on 127.0.0.1:``port`` with ``scenario``."""
    _prepare(workdir, scenario)
    argv = [need("sipp"), "-sf", scenario, "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_port()),
            "-m", str(calls), "-nostdin", "-trace_err", "-trace_msg", "-timeout_error", "-timeout", f"{int(timeout)}s"]
    return Proc(argv, cwd=workdir)


def sipp_messages(workdir: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in workdir.glob("*_messages.log"))


class RtpSink:
    """A UDP socket on 127.0.0.1 that records the RTP packets sent to it: (arrival time, payload type, payload)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets: list[tuple[float, int, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except OSError:
                continue
            if len(data) >= 12 and data[0] >> 6 == 2:
                cc = data[0] & 0x0F
                self.packets.append((time.monotonic(), data[1] & 0x7F, data[12 + 4 * cc:]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def gaps(self) -> list[tuple[float, int]]:
        """(length in seconds, index of the packet after it) of every pause over 100 ms, longest first."""
        times = [t for t, _, _ in self.packets]
        out = [(b - a, i + 1) for i, (a, b) in enumerate(zip(times, times[1:])) if b - a > 0.1]
        return sorted(out, reverse=True)


def alaw_decode(data: bytes) -> np.ndarray:
    """G.711 A-law → 16-bit PCM (for checking what the agent sent in PCMA)."""
    a = np.frombuffer(data, dtype=np.uint8) ^ 0x55
    exp, mant = (a >> 4) & 7, (a & 0x0F).astype(np.int32)
    mag = np.where(exp == 0, (mant << 4) + 8, ((mant << 4) + 0x108) << np.maximum(exp.astype(np.int32) - 1, 0))
    return np.where(a & 0x80, mag, -mag).astype(np.int16)


def sipp_failure(result: subprocess.CompletedProcess, workdir: Path, agent: Proc | None = None) -> str:
    logs = "".join(p.read_text(errors="replace")[-3000:] for p in workdir.glob("*_errors.log"))
    msgs = "".join(p.read_text(errors="replace")[-4000:] for p in workdir.glob("*_messages.log"))
    tail = "\n".join(agent.lines[-60:]) if agent is not None else ""
    return f"sipp exit {result.returncode}\n{result.stderr[-1500:]}\n{logs}\n{msgs}\n--- agent ---\n{tail}"
