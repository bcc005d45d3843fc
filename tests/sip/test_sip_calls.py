"""Whole SIP calls into ``assistant sip`` (the real call core) from sipp and baresip, on 127.0.0.1 only."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time

import numpy as np
import pytest

from sip_helpers import SPEECH, RtpSink, alaw_decode, free_port, need, run_sipp, sipp_failure, wait_until
from voice.sip.probe import options_ping
from voice.sip.redact import call_ref
from voice.sip.rtp_pcap import RtpPcap

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = SPEECH / "vi_natural_04.wav"


def summaries(agent, start: int) -> list[dict]:
    return [json.loads(m.group(1)) for m in agent.matches(r"call summary (\{.*\})", start)]


def wait_summaries(agent, start: int, n: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = summaries(agent, start)
        if len(found) >= n:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{n} call summaries expected, got {summaries(agent, start)}")


def db_rows(agent, sql: str, args: tuple = ()) -> list[tuple]:
    with sqlite3.connect(agent.db) as c:
        return c.execute(sql, args).fetchall()


def external_id(agent, summary: dict) -> str:
    """The SIP Call-ID of a logged call: the log shows only its hash (``call``), the call record has it in full."""
    found = wait_until(lambda: [e for (e,) in db_rows(agent, "SELECT external_id FROM calls WHERE external_id IS NOT NULL")
                                if call_ref(e) == summary["call"]])
    assert found, f"no call record for {summary}"
    return found[0]


def outcome_of(agent, summary: dict) -> list[tuple]:
    eid = external_id(agent, summary)
    return wait_until(lambda: db_rows(agent, "SELECT outcome FROM calls WHERE external_id = ? AND outcome IS NOT NULL",
                                      (eid,)))  # the core writes it just after the hang-up


def turns_of(agent, summary: dict) -> list[tuple[str, str]]:
    return db_rows(agent, "SELECT t.kind, t.transcript FROM call_turns t JOIN calls c ON c.id = t.call_id "
                          "WHERE c.external_id = ? ORDER BY t.seq", (external_id(agent, summary),))


def speech_turns(agent, external_id: str) -> list[tuple[str, str]]:
    return db_rows(agent, "SELECT t.transcript, t.answer FROM call_turns t JOIN calls c ON c.id = t.call_id "
                          "WHERE c.external_id = ? AND t.kind = 'speech' ORDER BY t.seq", (external_id,))


def test_call_with_vietnamese_speech_and_rfc2833_dtmf(agent, tmp_path):
    pcap = RtpPcap().silence(500).dtmf("1").silence(1000).wav(QUESTION).silence(600)
    pcap.write(tmp_path / "caller.pcap")
    start = len(agent.lines)
    result = run_sipp(tmp_path, "call_audio.xml", agent.target, duration_ms=pcap.duration_ms + 9000)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    (summary,) = wait_summaries(agent, start, 1)
    assert summary["latencies_ms"], f"no answer audio after the caller spoke: {summary}"
    assert summary["frames_played"] > 150  # greeting, topic prompt, then seconds of answer
    turns = speech_turns(agent, external_id(agent, summary))
    assert turns and len(turns[0][0].split()) >= 4, turns  # Whisper heard the Vietnamese sentence
    assert turns[0][1], "the question got no spoken answer"
    assert ("dtmf", "1") in wait_until(lambda: turns_of(agent, summary))  # the RFC 2833 key reached the core


def test_sip_info_dtmf_reaches_the_core_and_the_log_holds_no_personal_data(agent, tmp_path):
    number = "+14155550100"  # a caller URI with a phone number (one the generic masking filter does not know)
    start = len(agent.lines)
    result = run_sipp(tmp_path, "info_dtmf.xml", agent.target, duration_ms=1500, keys={"caller": number})
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    (summary,) = wait_summaries(agent, start, 1)
    assert ("dtmf", "5") in wait_until(lambda: turns_of(agent, summary))  # the SIP INFO digit is the core's DTMF turn
    log = "\n".join(agent.lines[start:])
    assert f"incoming call {summary['call']} from sip:[***00]@127.0.0.1" in log, log
    assert "4155550100" not in log  # the caller's number is masked
    assert external_id(agent, summary) not in log  # only a hash of the Call-ID
    assert "DTMF" not in log  # digits (an ID number typed on the keypad) are not logged at INFO


def test_caller_hangs_up_in_the_middle_of_the_answer(agent, tmp_path):
    pcap = RtpPcap().silence(300).wav(QUESTION).silence(300)
    pcap.write(tmp_path / "caller.pcap")
    start = len(agent.lines)
    # the answer starts ~1 s after the question ends (more on a busy machine) and lasts over 10 s: hang up 6 s
    # after the question
    result = run_sipp(tmp_path, "call_audio.xml", agent.target, duration_ms=pcap.duration_ms + 6000)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    (summary,) = wait_summaries(agent, start, 1)
    assert summary["status"] == 200 and summary["latencies_ms"], summary
    assert summary["unplayed_ms"] > 0, f"the answer had ended: {summary}"  # the caller left mid-answer
    outcome = outcome_of(agent, summary)
    assert outcome and outcome[0][0] in ("answered", "abandoned"), outcome
    assert options_ping(agent.host, agent.port) == 200  # still serving


def test_cancel_before_answer(agent, tmp_path):
    start = len(agent.lines)
    result = run_sipp(tmp_path, "cancel.xml", agent.target)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    agent.wait_for(r"ended: 487", timeout=5, start=start)
    assert not summaries(agent, start)  # never answered, no session


def test_reinvite_hold_and_resume_over_tcp(agent, tmp_path):
    """Hold (a=sendonly) is answered a=recvonly and the agent's audio stops; after the resume it flows again."""
    sink = RtpSink()
    try:
        start = len(agent.lines)
        result = run_sipp(tmp_path, "reinvite.xml", agent.target, transport="t1", duration_ms=1500,
                          keys={"rtp_port": str(sink.port)})
        assert result.returncode == 0, sipp_failure(result, tmp_path, agent)  # the SDP answers were checked there
        (summary,) = wait_summaries(agent, start, 1)
        assert summary["status"] == 200
    finally:
        sink.close()
    assert sink.packets, "no RTP from the agent"
    (held_s, resumed_at), *_ = sink.gaps() or [(0.0, 0)]
    assert held_s >= 0.6, f"the agent kept sending audio on hold: longest pause {held_s:.2f} s"
    after = sink.packets[resumed_at:]
    assert len(after) >= 40, f"{len(after)} RTP packets after the resume"  # ≥ 0.8 s of the 1.5 s listened
    assert {pt for _, pt, _ in after} == {0}  # PCMU, as negotiated


def test_pcma_only_offer_is_answered_in_pcma_with_audio(agent, tmp_path):
    sink = RtpSink()
    try:
        start = len(agent.lines)
        result = run_sipp(tmp_path, "pcma.xml", agent.target, duration_ms=3000, keys={"rtp_port": str(sink.port)})
        assert result.returncode == 0, sipp_failure(result, tmp_path, agent)  # 200 OK answering PCMA (checked)
        wait_summaries(agent, start, 1)
    finally:
        sink.close()
    audio = [payload for _, pt, payload in sink.packets if pt == 8]
    assert len(audio) >= 100, f"{len(audio)} PCMA packets of {len(sink.packets)}"  # ≥ 2 s of the 3 s
    assert {pt for _, pt, _ in sink.packets} <= {8, 101}
    pcm = alaw_decode(b"".join(audio)).astype(np.float64)
    loud = [np.sqrt((w ** 2).mean()) for w in np.array_split(pcm, len(pcm) // 4000)]  # 0.5 s windows
    assert max(loud) > 500, f"the greeting is not in the PCMA audio: {np.round(loud).tolist()}"


def test_offer_without_g711_gets_488(agent, tmp_path):
    start = len(agent.lines)
    result = run_sipp(tmp_path, "no_g711.xml", agent.target, timeout=20)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)  # 488 Not Acceptable Here
    assert not summaries(agent, start)  # no session was opened
    assert options_ping(agent.host, agent.port) == 200


def test_transfer_to_an_officer_by_refer(agent, tmp_path, officer_port):
    """202 Accepted and a NOTIFY 100 keep the call (a BYE then fails the scenario); the NOTIFY 200 ends it."""
    RtpPcap().silence(1000).dtmf("0").silence(300).write(tmp_path / "caller.pcap")
    start = len(agent.lines)
    result = run_sipp(tmp_path, "refer.xml", agent.target, timeout=60)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    agent.wait_for(rf"REFER to sip:officer@127.0.0.1:{officer_port}", timeout=5, start=start)
    (summary,) = wait_summaries(agent, start, 1)
    assert outcome_of(agent, summary) == [("transferred",)]


@pytest.mark.parametrize("scenario, code", [("refer_fail.xml", 486), ("refer_rejected.xml", 603)])
def test_failed_refer_keeps_the_caller(agent, tmp_path, scenario, code):
    """The officer's line is busy (NOTIFY sipfrag 486) or the REFER is declined (603): the core is told, says it
    cannot transfer and keeps the caller (no BYE from the agent), and the call is not recorded as transferred."""
    RtpPcap().silence(1000).dtmf("0").silence(300).write(tmp_path / "caller.pcap")
    start = len(agent.lines)
    result = run_sipp(tmp_path, scenario, agent.target, duration_ms=4000, timeout=60)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    agent.wait_for(rf"transfer failed \({code}\)", timeout=5, start=start)
    (summary,) = wait_summaries(agent, start, 1)
    assert len(agent.matches(r"transfer failed", start)) == 1  # reported to the core once
    assert outcome_of(agent, summary)[0][0] != "transferred"


MALFORMED = [
    b"\x00\xff" * 300,
    b"INVITE sip:x SIP/2.0\r\n\r\n",
    b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nContent-Length: 99999\r\n\r\n",
    b"INVITE sip:a@127.0.0.1 SIP/2.0\r\n" + b"X-Long: " + b"a" * 60000 + b"\r\n\r\n",
    (b"INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad\r\nFrom: <sip:x@y>;tag=1\r\n"
     b"To: <sip:a@127.0.0.1>\r\nCall-ID: broken-sdp\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:9>\r\n"
     b"Content-Type: application/sdp\r\nContent-Length: 30\r\n\r\nv=0\r\nm=audio notaport RTP/AVP 0\r\n"),
    "SIP/2.0 200 OK\r\nCSeq: 1 ÿ\r\n\r\n".encode("latin-1"),
]


def test_malformed_sip_is_survived(agent, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for datagram in MALFORMED:
            try:
                s.sendto(datagram, (agent.host, agent.port))
            except OSError:  # the 60 kB one may exceed the datagram limit on some systems
                pass
    for payload in (MALFORMED[0], MALFORMED[1], b"\r\n\r\n" * 1000):
        with socket.create_connection((agent.host, agent.port), timeout=2) as t:
            t.sendall(payload)
    time.sleep(0.5)
    assert agent.proc.poll() is None
    assert options_ping(agent.host, agent.port) == 200
    start = len(agent.lines)
    result = run_sipp(tmp_path, "reinvite.xml", agent.target, duration_ms=300)  # a normal call still works
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    wait_summaries(agent, start, 1)


def test_simultaneous_calls(agent, tmp_path):
    pcap = RtpPcap().silence(300).wav(QUESTION).silence(300)
    pcap.write(tmp_path / "caller.pcap")
    start = len(agent.lines)
    result = run_sipp(tmp_path, "call_audio.xml", agent.target, calls=3, limit=3, rate=3,
                      duration_ms=pcap.duration_ms + 9000, timeout=90)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    found = wait_summaries(agent, start, 3)
    assert len({s["call"] for s in found}) == 3
    for s in found:
        assert s["latencies_ms"], f"a call got no answer: {found}"


def _rms_windows(pcm: np.ndarray, rate: int, win_s: float = 0.5) -> np.ndarray:
    n = int(rate * win_s)
    w = pcm[: len(pcm) // n * n].reshape(-1, n).astype(np.float64)
    return np.sqrt((w ** 2).mean(axis=1))


def _tokens(text: str) -> list[str]:
    from assistant.text.normalize import fold

    return [t for t in fold(text).lower().replace(",", " ").replace(".", " ").split() if t.isalpha()]


def test_baresip_hears_the_spoken_answer(agent, tmp_path):
    """A real softphone asks a question; what it hears afterwards is speech, and it is the recorded answer."""
    from voice.audio import read_wav, wav_bytes

    need("baresip")
    home = tmp_path / "home"
    conf, rec = home / ".baresip", tmp_path / "rec"
    conf.mkdir(parents=True)
    rec.mkdir()
    question, _ = read_wav(SPEECH / "vi_natural_02.wav", 8000)
    lead, tail = 8000, 8000 * 14  # aufile ends the call at the end of the file: keep listening 14 s
    (tmp_path / "question.wav").write_bytes(wav_bytes(
        np.concatenate([np.zeros(lead, np.int16), question, np.zeros(tail, np.int16)]), 8000))
    rtp = free_port()
    (conf / "config").write_text(f"""poll_method poll
sip_listen 127.0.0.1:{free_port()}
sip_trans_def udp
net_interface 127.0.0.1
audio_player alsa,null
audio_alert alsa,null
audio_source aufile,{tmp_path / 'question.wav'}
audio_srate 8000
audio_channels 1
rtp_ports {rtp}-{rtp + 20}
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module_app account.so
module_app menu.so
snd_path {rec}
""")
    (conf / "accounts").write_text("<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
    start = len(agent.lines)
    run = subprocess.run([need("baresip"), "-f", str(conf), "-e", f"/dial sip:hotline@{agent.target}", "-t", "18"],
                         env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert "Call established" in run.stdout, run.stdout[-3000:]
    (summary,) = wait_summaries(agent, start, 1)
    heard_file = next(rec.glob("*-dec.wav"))
    heard, rate = read_wav(heard_file, 8000)
    rms = _rms_windows(heard, rate)
    spoken_until = (lead + len(question)) / 8000
    after = rms[int(spoken_until / 0.5) + 1:]
    assert (after > 500).sum() >= 6, f"silence after the question: {np.round(rms).astype(int).tolist()}"
    # and it is the answer the call recorded, not noise: Whisper on what the caller heard vs the stored text
    from assistant.config import get_settings
    from voice.stt import WhisperSTT

    heard16, _ = read_wav(heard_file, 16000)
    # what was spoken after the question, without the silence that follows the reply (Whisper invents
    # words in long silence): up to the end of the last loud half-second
    loud = np.flatnonzero(rms > 500)
    end_s = (loud[-1] + 1) * 0.5 + 0.3 if loud.size else len(heard16) / 16000
    text = WhisperSTT(get_settings()).transcribe(heard16[int((spoken_until + 0.5) * 16000):int(end_s * 16000)]).text
    turns = speech_turns(agent, external_id(agent, summary))
    assert turns, (summary, db_rows(agent, "SELECT c.external_id, t.kind, t.transcript, t.outcome FROM call_turns t "
                                           "JOIN calls c ON c.id = t.call_id ORDER BY t.created_at DESC LIMIT 5"))
    answer = " ".join(a for _, a in turns)  # every reply the call recorded (the question may take two turns)
    heard_words, answer_words = _tokens(text), set(_tokens(answer))
    overlap = sum(w in answer_words for w in heard_words) / max(len(heard_words), 1)
    assert len(heard_words) >= 8 and overlap >= 0.3, (text, answer, overlap)


def test_agent_answers_options(agent):
    assert agent.proc.poll() is None, f"the agent exited ({agent.proc.returncode}):\n" + "\n".join(agent.lines[-40:])
    assert options_ping(agent.host, agent.port) == 200


@pytest.fixture(autouse=True)
def _one_call_at_a_time(agent):
    """Leave no call of a previous test running (their summaries would mix)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        opened = len(agent.matches(r"incoming call "))
        closed = len(agent.matches(r"ended: "))
        if opened <= closed:
            break
        time.sleep(0.2)
    yield

