"""``assistant up`` with ``ASSISTANT_SIP_ENABLED``: the SIP agent runs as a fourth part and stops with the rest."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from sip_helpers import free_port, need, wait_until

from tests.cli.test_up import Up, alive, fake_rasa_venv, wait_ready
from voice.sip.probe import options_ping

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_up_starts_and_stops_the_sip_agent(tmp_path):
    need("sipp")
    venv, model = fake_rasa_venv(tmp_path)  # a stand-in for Rasa, as in tests/cli/test_up.py
    port, rasa_port, actions_port, sip_port = free_port(), free_port(), free_port(), free_port()
    up = Up(["--rasa-venv", str(venv), "--model", str(model), "--port", str(port), "--rasa-port", str(rasa_port),
             "--actions-port", str(actions_port)],
            env={"FAKE_RASA_ARGS": str(tmp_path / "args.json"), "ASSISTANT_DATABASE_URL": f"sqlite:///{tmp_path / 'db'}",
                 "ASSISTANT_SIP_ENABLED": "true", "ASSISTANT_SIP_HOST": "127.0.0.1", "ASSISTANT_SIP_PORT": str(sip_port),
                 "ASSISTANT_SIP_RTP_PORT": str(free_port())})
    try:
        wait_ready(up, port, 300)
        assert wait_until(lambda: any(x.startswith("[up] sip is healthy") for x in up.lines), timeout=120), up.output
        assert options_ping("127.0.0.1", sip_port) == 200
        assert any(x.startswith("[sip] ready: SIP on 127.0.0.1:") for x in up.lines), up.output
        pids = up.pids()
        assert set(pids) == {"rasa", "actions", "app", "sip"}, up.output
        up.proc.send_signal(signal.SIGINT)
        try:
            code = up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            raise AssertionError("assistant up did not stop in 90 s after Ctrl-C:\n" + up.output) from None
        assert code == 0, up.output
        time.sleep(0.5)
        assert not alive(pids["sip"]) and options_ping("127.0.0.1", sip_port, timeout=0.5) is None
    finally:
        up.kill()
