"""Fixtures of the SIP tests: the real agent (``assistant sip``) on 127.0.0.1, the Debian peers."""

from __future__ import annotations

import os
import sys

import pytest
from sip_helpers import REPO, Agent, free_port, need


@pytest.fixture(scope="session")
def sip_binaries() -> dict[str, str]:
    return {name: need(name) for name in ("sipp", "baresip", "kamailio")}


@pytest.fixture(scope="session")
def officer_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def agent(tmp_path_factory, sip_binaries, officer_port):
    """``assistant sip`` with the real call core, its own SQLite database, a 300 ms ring."""
    tmp = tmp_path_factory.mktemp("sip-agent")
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1",
               ASSISTANT_DATABASE_URL=f"sqlite:///{tmp / 'calls.db'}", ASSISTANT_SIP_RING_MS="300",
               ASSISTANT_SIP_TRANSFER_URI=f"sip:officer@127.0.0.1:{officer_port}", ASSISTANT_SIP_MAX_CALLS="4",
               ASSISTANT_LOG_LEVEL="INFO", TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    env.pop("ASSISTANT_RASA_URL", None)
    a = Agent([sys.executable, "-m", "assistant.cli.main", "sip", "--host", "127.0.0.1", "--port", str(port),
               "--rtp-port", str(free_port())], port, env=env, cwd=REPO)
    a.db = tmp / "calls.db"
    try:
        a.wait_for(r"^ready: SIP", timeout=180)
        yield a
    finally:
        code = a.stop()
        assert code == 0, "the agent did not stop cleanly:\n" + "\n".join(a.lines[-30:])
