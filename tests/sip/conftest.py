"""Fixtures of the SIP tests: the real agent (``assistant sip``) on 127.0.0.1, the Debian peers, and ``procs``,
which stops every process a test started (tone agents, Kamailio, background sipp) whatever the outcome."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sip_helpers import (REPO, Agent, Proc, free_port, native_backtrace, need, start_kamailio, start_sipp,
                         start_sipp_server, start_tone_agent)


@pytest.fixture(scope="session")
def sip_binaries() -> dict[str, str]:
    return {name: need(name) for name in ("sipp", "baresip", "kamailio")}


@pytest.fixture(scope="session")
def officer_port() -> int:
    return free_port()


class Procs:
    """Starts processes for one test and remembers them; the fixture's finalizer stops them all."""

    def __init__(self) -> None:
        self.started: list[Proc] = []

    def _keep(self, proc: Proc) -> Proc:
        self.started.append(proc)
        return proc

    def tone_agent(self, *args: str, name: str = "agent") -> Agent:
        return self._keep(start_tone_agent(*args, name=name))

    def kamailio(self, workdir: Path, agents: list[int]) -> Proc:
        return self._keep(start_kamailio(workdir, agents))

    def sipp(self, workdir: Path, scenario: str, target: str, **kw) -> Proc:
        return self._keep(start_sipp(workdir, scenario, target, **kw))

    def sipp_server(self, workdir: Path, scenario: str, port: int, **kw) -> Proc:
        return self._keep(start_sipp_server(workdir, scenario, port, **kw))

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop(10)


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.stop_all()


@pytest.fixture(scope="session")
def agent(tmp_path_factory, sip_binaries, officer_port):
    """``assistant sip`` with the real call core, its own SQLite database, a 300 ms ring."""
    tmp = tmp_path_factory.mktemp("sip-agent")
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1",
               ASSISTANT_DATABASE_URL=f"sqlite:///{tmp / 'calls.db'}", ASSISTANT_SIP_RING_MS="300",
               ASSISTANT_SIP_TRANSFER_URI=f"sip:officer@127.0.0.1:{officer_port}",
               ASSISTANT_LOG_LEVEL="INFO", TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    for name in ("ASSISTANT_RASA_URL", "ASSISTANT_SIP_MAX_CALLS"):
        env.pop(name, None)  # the default (3 callers) is what runs in production
    a = Agent([sys.executable, "-m", "assistant.cli.main", "sip", "--host", "127.0.0.1", "--port", str(port),
               "--rtp-port", str(free_port())], port, env=env, cwd=REPO, core_dumps=True)
    a.db = tmp / "calls.db"
    try:
        a.wait_for(r"^ready: SIP", timeout=180)
        yield a
    finally:
        code = a.stop()
        (tmp / "agent.log").write_text("\n".join(a.lines) + "\n")  # for a post-mortem of a failed run
        native = native_backtrace(a, tmp / "agent-backtrace.txt") if code is not None and code < 0 else ""
        assert code == 0, (f"the agent did not stop cleanly ({code}; {tmp / 'agent.log'}):\n" + "\n".join(a.lines[-30:])
                           + "\n" + native)
