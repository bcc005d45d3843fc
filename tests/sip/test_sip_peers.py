"""SIP without the speech stack: digest auth, the allow-list, and two agents behind Kamailio's dispatcher.

The agents here are :mod:`tone_agent` processes (the real SIP agent, a fake call core that plays a tone).
"""

from __future__ import annotations

import time

import pytest
from sip_helpers import Proc, free_port, need, run_sipp, sipp_failure, start_tone_agent, wait_until

from voice.sip.kamailio import render
from voice.sip.rtp_pcap import RtpPcap

pytestmark = pytest.mark.slow


def test_digest_authentication(tmp_path):
    a = start_tone_agent("--auth", "alice:s3cret")
    try:
        ok = run_sipp(tmp_path / "ok", "auth.xml", a.target, extra=["-au", "alice", "-ap", "s3cret"], timeout=20)
        assert ok.returncode == 0, sipp_failure(ok, tmp_path / "ok", a)
        a.wait_for(r"EVENT start", timeout=5)
        bad = run_sipp(tmp_path / "bad", "auth.xml", a.target, extra=["-au", "alice", "-ap", "wrong"], timeout=4)
        assert bad.returncode != 0  # challenged again, never answered
        assert len(a.matches(r"EVENT start")) == 1
    finally:
        assert a.stop() == 0


def test_allow_list_refuses_other_sources(tmp_path):
    a = start_tone_agent("--allow", "10.0.0.0/8", "--allow", "192.168.1.7")
    try:
        result = run_sipp(tmp_path, "forbidden.xml", a.target, timeout=20)
        assert result.returncode == 0, sipp_failure(result, tmp_path, a)  # 403 Forbidden received
        a.wait_for(r"not in the allow-list", timeout=5)
        assert not a.matches(r"EVENT start")
    finally:
        assert a.stop() == 0


def start_kamailio(tmp_path, agents: list[int]) -> Proc:
    port = free_port()
    cfg = str(render(tmp_path, f"127.0.0.1:{port}", [f"127.0.0.1:{p}" for p in agents], children=1, debug=2))
    run = tmp_path / "run"
    run.mkdir()
    k = Proc([need("kamailio"), "-f", cfg, "-DD", "-E", "-m", "32", "-M", "8", "-Y", str(run)], cwd=tmp_path)
    k.port = port
    k.wait_for(r"INFO: .*(init_tcp|main process|udp_rcv_loop|tcp_main_loop)|Listening on|dispatcher", timeout=15)
    time.sleep(1.0)
    return k


def test_two_agents_behind_kamailio_dispatcher(tmp_path):
    """Calls through Kamailio are spread round robin; when one agent dies, calls go to the other."""
    a = start_tone_agent(name="A")
    b = start_tone_agent("--hz", "660", name="B")
    k = start_kamailio(tmp_path, [a.port, b.port])
    RtpPcap().silence(400).write(tmp_path / "caller.pcap")
    try:
        result = run_sipp(tmp_path, "call_audio.xml", f"127.0.0.1:{k.port}", calls=4, limit=1, rate=10,
                          duration_ms=600, timeout=60)
        assert result.returncode == 0, sipp_failure(result, tmp_path, k)
        assert (len(a.matches(r"EVENT start A")), len(b.matches(r"EVENT start B"))) == (2, 2)
        # the callers' BYEs reached the agents through Kamailio (record-route)
        assert wait_until(lambda: len(a.matches(r"EVENT hangup A")) == 2 and len(b.matches(r"EVENT hangup B")) == 2)

        assert b.stop() == 0  # one agent goes away: every call still gets answered, by A
        (tmp_path / "failover").mkdir()
        RtpPcap().silence(200).write(tmp_path / "failover" / "caller.pcap")
        again = run_sipp(tmp_path / "failover", "call_audio.xml", f"127.0.0.1:{k.port}", calls=2, limit=1,
                         duration_ms=300, timeout=60)
        assert again.returncode == 0, sipp_failure(again, tmp_path / "failover", k)
        assert len(a.matches(r"EVENT start A")) == 4
    finally:
        k.stop()
        assert a.stop() == 0
        b.stop()
