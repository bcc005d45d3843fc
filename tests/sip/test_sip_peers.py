"""SIP without the speech stack: digest auth, the allow-list, a full agent, bridge transfers, and agents behind
Kamailio's dispatcher.

The agents here are :mod:`tone_agent` processes (the real SIP agent, a fake call core that plays a tone); every
process is started through the ``procs`` fixture, which stops it whatever the test's outcome.
"""

from __future__ import annotations

import re
import secrets
import socket

import pytest
from sip_helpers import free_port, run_sipp, sipp_failure, sipp_messages, wait_until

from voice.sip.rtp_pcap import RtpPcap

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def tail(proc, n: int = 80) -> str:
    return "\n".join(proc.lines[-n:])


def _replay(message: str, target: tuple[str, int]) -> str:
    """Send ``message`` again as a new INVITE (new Call-ID, branch and tag; same Authorization); the answer."""
    m = message.replace("\n", "\r\n") if "\r\n" not in message else message
    m = re.sub(r"(?m)^Call-ID: .*$", f"Call-ID: replay-{secrets.token_hex(6)}", m)
    m = re.sub(r"branch=[^;\s]+", f"branch=z9hG4bK{secrets.token_hex(6)}", m)
    m = re.sub(r"(?m)^(From: .*;tag=)\S+$", rf"\g<1>{secrets.token_hex(4)}", m)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        m = re.sub(r"(?m)^(Via: SIP/2.0/UDP 127.0.0.1:)\d+", rf"\g<1>{port}", m)
        s.settimeout(3)
        s.sendto(m.encode(), target)
        while True:  # skip 100 Trying
            data = s.recv(65535).decode(errors="replace")
            if not data.startswith("SIP/2.0 100"):
                return data


def test_digest_authentication(tmp_path, procs):
    a = procs.tone_agent("--auth", "alice:s3cret")
    # sipp's digest uri is "sip:HOST:PORT" unless told (-auth_uri); the agent wants the Request-URI, as RFC 2617 says
    creds = ["-au", "alice", "-ap", "s3cret", "-auth_uri", f"1000@{a.target}"]
    ok = run_sipp(tmp_path / "ok", "auth.xml", a.target, extra=creds, timeout=20)
    assert ok.returncode == 0, sipp_failure(ok, tmp_path / "ok", a)
    a.wait_for(r"EVENT start", timeout=5)
    # wrong password: the retried INVITE is challenged again (a second 401 the scenario waits for explicitly)
    bad = run_sipp(tmp_path / "bad", "auth_wrong.xml", a.target, extra=[*creds[:3], "wrong", *creds[4:]], timeout=20)
    assert bad.returncode == 0, sipp_failure(bad, tmp_path / "bad", a)
    # a captured Authorization header does not open a second call: same nonce and nc → 401 stale=true
    sent = re.findall(r"(INVITE sip:.*?)(?=\n-{10,}|\Z)", sipp_messages(tmp_path / "ok"), re.S)
    authorized = next(m for m in sent if "Authorization:" in m)
    answer = _replay(authorized.strip() + "\n", (a.host, a.port))
    assert answer.startswith("SIP/2.0 401") and "stale=true" in answer, answer
    assert len(a.matches(r"EVENT start")) == 1
    assert a.stop() == 0, tail(a)


def test_allow_list_refuses_other_sources(tmp_path, procs):
    a = procs.tone_agent("--allow", "10.0.0.0/8", "--allow", "192.168.1.7")
    result = run_sipp(tmp_path, "forbidden.xml", a.target, timeout=20)
    assert result.returncode == 0, sipp_failure(result, tmp_path, a)  # 403 Forbidden received
    a.wait_for(r"not in the allow-list", timeout=5)
    assert not a.matches(r"EVENT start")
    assert a.stop() == 0, tail(a)


def _hold_call(procs, workdir, target: str, ms: int):
    """A call that holds a slot of ``target`` for ``ms`` (in the background)."""
    workdir.mkdir(parents=True, exist_ok=True)
    RtpPcap().silence(200).write(workdir / "caller.pcap")
    return procs.sipp(workdir, "call_audio.xml", target, duration_ms=ms, timeout=30)


def test_full_agent_refuses_with_503(tmp_path, procs):
    a = procs.tone_agent("--max-calls", "1")
    first = _hold_call(procs, tmp_path / "first", a.target, 4000)
    a.wait_for(r"EVENT start", timeout=10)
    second = run_sipp(tmp_path / "second", "busy.xml", a.target, timeout=20)
    assert second.returncode == 0, sipp_failure(second, tmp_path / "second", a)  # 503 with Retry-After
    assert a.matches(r"refused \(503\): 1 calls already")
    assert first.proc.wait(30) == 0, "\n".join(first.lines[-20:])  # the first call went on undisturbed
    assert len(a.matches(r"EVENT start")) == 1
    assert a.stop() == 0, tail(a)


def test_bridge_transfer_gives_up_and_hangs_up_the_officer_leg(tmp_path, procs):
    """The officer's line rings and never answers: when the core stops waiting, the agent CANCELs that leg (a late
    answer could otherwise connect a caller who was told the transfer failed) and keeps the caller."""
    officer_port = free_port()
    officer = procs.sipp_server(tmp_path / "officer", "officer_noanswer.xml", officer_port, timeout=30)
    a = procs.tone_agent("--transfer-mode", "bridge", "--transfer-uri", f"sip:officer@127.0.0.1:{officer_port}",
                         "--transfer-wait-s", "2")
    (tmp_path / "caller").mkdir()
    RtpPcap().silence(600).dtmf("0").silence(300).write(tmp_path / "caller" / "caller.pcap")
    caller = run_sipp(tmp_path / "caller", "call_audio.xml", a.target, duration_ms=5000, timeout=30)
    assert caller.returncode == 0, sipp_failure(caller, tmp_path / "caller", a)  # no BYE from the agent
    a.wait_for(r"EVENT transfer_gave_up", timeout=5)
    assert officer.proc.wait(15) == 0, "\n".join(officer.lines[-30:])  # INVITE, then CANCEL (200, 487, ACK)
    assert not a.matches(r"EVENT transferred")
    assert a.stop() == 0, tail(a)


def test_bridge_transfer_joins_the_officer(tmp_path, procs):
    """The officer answers: the core hears "transferred"; when the officer hangs up, the caller is hung up too."""
    officer_port = free_port()
    officer = procs.sipp_server(tmp_path / "officer", "officer_answer.xml", officer_port, timeout=30)
    a = procs.tone_agent("--transfer-mode", "bridge", "--transfer-uri", f"sip:officer@127.0.0.1:{officer_port}",
                         "--transfer-wait-s", "10")
    (tmp_path / "caller").mkdir()
    RtpPcap().silence(600).dtmf("0").silence(300).write(tmp_path / "caller" / "caller.pcap")
    caller = run_sipp(tmp_path / "caller", "caller_bridged.xml", a.target, timeout=30)
    assert caller.returncode == 0, sipp_failure(caller, tmp_path / "caller", a)  # BYE from the agent received
    assert officer.proc.wait(15) == 0, "\n".join(officer.lines[-30:])
    a.wait_for(r"EVENT transferred", timeout=5)
    assert not a.matches(r"EVENT transfer_(failed|gave_up)")
    assert a.stop() == 0, tail(a)


def test_two_agents_behind_kamailio_dispatcher(tmp_path, procs):
    """Calls through Kamailio are spread round robin; when one agent dies, calls go to the other."""
    a = procs.tone_agent(name="A")
    b = procs.tone_agent("--hz", "660", name="B")
    k = procs.kamailio(tmp_path / "kamailio", [a.port, b.port])
    RtpPcap().silence(400).write(tmp_path / "caller.pcap")
    result = run_sipp(tmp_path, "call_audio.xml", f"127.0.0.1:{k.port}", calls=4, limit=1, rate=10,
                      duration_ms=600, timeout=60)
    assert result.returncode == 0, sipp_failure(result, tmp_path, k)
    assert (len(a.matches(r"EVENT start A")), len(b.matches(r"EVENT start B"))) == (2, 2)
    # the callers' BYEs reached the agents through Kamailio (record-route)
    assert wait_until(lambda: len(a.matches(r"EVENT hangup A")) == 2 and len(b.matches(r"EVENT hangup B")) == 2)

    assert b.stop() == 0, tail(b)  # one agent goes away: every call still gets answered, by A
    (tmp_path / "failover").mkdir()
    RtpPcap().silence(200).write(tmp_path / "failover" / "caller.pcap")
    again = run_sipp(tmp_path / "failover", "call_audio.xml", f"127.0.0.1:{k.port}", calls=2, limit=1,
                     duration_ms=300, timeout=60)
    assert again.returncode == 0, sipp_failure(again, tmp_path / "failover", k)
    assert len(a.matches(r"EVENT start A")) == 4
    assert a.stop() == 0, tail(a)


def test_kamailio_fails_over_from_a_full_agent(tmp_path, procs):
    """Agents of one call each: two simultaneous calls through Kamailio are both answered; and while one agent is
    busy, each call Kamailio sends it (503) is answered by the other."""
    a = procs.tone_agent("--max-calls", "1", name="A")
    b = procs.tone_agent("--max-calls", "1", "--hz", "660", name="B")
    k = procs.kamailio(tmp_path / "kamailio", [a.port, b.port])
    RtpPcap().silence(400).write(tmp_path / "caller.pcap")
    both = run_sipp(tmp_path, "call_audio.xml", f"127.0.0.1:{k.port}", calls=2, limit=2, rate=10,
                    duration_ms=1500, timeout=60)
    assert both.returncode == 0, sipp_failure(both, tmp_path, k)
    assert (len(a.matches(r"EVENT start A")), len(b.matches(r"EVENT start B"))) == (1, 1)

    hold = _hold_call(procs, tmp_path / "hold", a.target, 8000)  # A is full (straight to it, not via Kamailio)
    assert wait_until(lambda: len(a.matches(r"EVENT start A")) == 2, timeout=10)
    (tmp_path / "next").mkdir()
    RtpPcap().silence(200).write(tmp_path / "next" / "caller.pcap")
    # round robin sends one of two successive calls to A: it answers 503, Kamailio tries B
    again = run_sipp(tmp_path / "next", "call_audio.xml", f"127.0.0.1:{k.port}", calls=2, limit=1,
                     duration_ms=300, timeout=60)
    assert again.returncode == 0, sipp_failure(again, tmp_path / "next", k)
    assert len(b.matches(r"EVENT start B")) == 3
    assert a.matches(r"refused \(503\)"), "\n".join(a.lines[-20:])
    assert k.matches(rf"agent full, trying sip:127.0.0.1:{b.port}"), "\n".join(k.lines[-30:])
    assert hold.proc.wait(30) == 0
    assert a.stop() == 0, tail(a)
    assert b.stop() == 0, tail(b)
