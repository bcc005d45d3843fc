"""Helpers of the SIP tests (processes, ports, sipp). SIP tests with real peers on 127.0.0.1: sipp (sip-tester), baresip, kamailio, and the real agent.

The Debian packages come from ``scripts/system-deps.sh`` (run by ``scripts/test.sh``); a missing one is a
failure, not a skip. One ``assistant sip`` process (real call core: Whisper, the engine, espeak-ng) serves
most tests; :mod:`tone_agent` processes (a fake core) serve the tests about SIP alone.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from voice.sip.probe import free_port  # noqa: F401  (re-exported for the tests)

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
SPEECH = REPO.parent / "shared" / "eval" / "speech"


def need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        pytest.fail(f"{binary} is not installed: run scripts/system-deps.sh (Debian sip-tester, baresip, kamailio)")
    return path




class Proc:
    """A child process whose output lines are collected (and searchable) as they come."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None):
        self.argv = argv
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=cwd, text=True, errors="replace", start_new_session=True)
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
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._pump.join(5)
        return self.proc.returncode


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


def start_tone_agent(*args: str, port: int | None = None, name: str = "agent") -> Agent:
    port = port or free_port()
    a = Agent([sys.executable, str(HERE / "tone_agent.py"), "--port", str(port), "--rtp-port", str(free_port()),
               "--name", name, *args], port, cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    a.wait_for(r"^ready", timeout=30)
    return a


def run_sipp(workdir: Path, scenario: str, target: str, *, calls: int = 1, limit: int = 1, rate: int | None = None,
             duration_ms: int = 1000, transport: str = "u1", extra: list[str] | None = None,
             timeout: float = 90.0) -> subprocess.CompletedProcess:
    """Run one sipp scenario from ``workdir`` (where its pcap files are) and return the finished process."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCENARIOS / scenario, workdir / scenario)
    argv = [need("sipp"), "-sf", scenario, target, "-i", "127.0.0.1", "-p", str(free_port()),
            "-mp", str(free_port()), "-m", str(calls), "-l", str(limit), "-r", str(rate or limit),
            "-d", str(duration_ms), "-t", transport, "-s", "1000", "-nostdin", "-trace_err", "-trace_msg",
            "-timeout_error", "-timeout", f"{int(timeout)}s", *(extra or [])]
    return subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=timeout + 15)


def sipp_failure(result: subprocess.CompletedProcess, workdir: Path, agent: Proc | None = None) -> str:
    logs = "".join(p.read_text(errors="replace")[-3000:] for p in workdir.glob("*_errors.log"))
    msgs = "".join(p.read_text(errors="replace")[-4000:] for p in workdir.glob("*_messages.log"))
    tail = "\n".join(agent.lines[-60:]) if agent is not None else ""
    return f"sipp exit {result.returncode}\n{result.stderr[-1500:]}\n{logs}\n{msgs}\n--- agent ---\n{tail}"
