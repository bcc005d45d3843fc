"""Whole SIP calls into ``assistant sip`` (the real call core) from sipp and baresip, on 127.0.0.1 only."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time

import numpy as np
import pytest

from sip_helpers import SPEECH, free_port, need, run_sipp, sipp_failure, wait_until
from voice.sip.rtp_pcap import RtpPcap
from voice.sip.probe import options_ping

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


def speech_turns(agent, external_id: str) -> list[tuple[str, str]]:
    return db_rows(agent, "SELECT t.transcript, t.answer FROM call_turns t JOIN calls c ON c.id = t.call_id "
                          "WHERE c.external_id = ? AND t.kind = 'speech' ORDER BY t.seq", (external_id,))


def test_call_with_vietnamese_speech_and_rfc2833_dtmf(agent, tmp_path):
    pcap = RtpPcap().silence(500).dtmf("1").silence(1000).wav(QUESTION).silence(600)
    pcap.write(tmp_path / "caller.pcap")
    start = len(agent.lines)
    result = run_sipp(tmp_path, "call_audio.xml", agent.target, duration_ms=pcap.duration_ms + 9000)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    agent.wait_for(r"DTMF 1 \(rfc2833\)", timeout=5, start=start)
    (summary,) = wait_summaries(agent, start, 1)
    assert summary["latencies_ms"], f"no answer audio after the caller spoke: {summary}"
    assert summary["frames_played"] > 150  # greeting, topic prompt, then seconds of answer
    turns = speech_turns(agent, summary["call_id"])
    assert turns and len(turns[0][0].split()) >= 4, turns  # Whisper heard the Vietnamese sentence
    assert turns[0][1], "the question got no spoken answer"
    kinds = db_rows(agent, "SELECT t.kind, t.transcript FROM call_turns t JOIN calls c ON c.id = t.call_id "
                           "WHERE c.external_id = ? ORDER BY t.seq", (summary["call_id"],))
    assert ("dtmf", "1") in kinds


def test_sip_info_dtmf(agent, tmp_path):
    start = len(agent.lines)
    result = run_sipp(tmp_path, "info_dtmf.xml", agent.target, duration_ms=1500)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    agent.wait_for(r"DTMF 5 \(info\)", timeout=5, start=start)


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
    outcome = wait_until(lambda: db_rows(agent, "SELECT outcome FROM calls WHERE external_id = ? AND outcome IS NOT NULL",
                                         (summary["call_id"],)))  # the core writes it just after the hang-up
    assert outcome and outcome[0][0] in ("answered", "abandoned"), outcome
    assert options_ping(agent.host, agent.port) == 200  # still serving


def test_cancel_before_answer(agent, tmp_path):
    start = len(agent.lines)
    result = run_sipp(tmp_path, "cancel.xml", agent.target)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    agent.wait_for(r"ended: 487", timeout=5, start=start)
    assert not summaries(agent, start)  # never answered, no session


def test_reinvite_hold_and_resume_over_tcp(agent, tmp_path):
    start = len(agent.lines)
    result = run_sipp(tmp_path, "reinvite.xml", agent.target, transport="t1", duration_ms=800)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    (summary,) = wait_summaries(agent, start, 1)
    assert summary["status"] == 200


def test_transfer_to_an_officer_by_refer(agent, tmp_path, officer_port):
    RtpPcap().silence(1000).dtmf("0").silence(300).write(tmp_path / "caller.pcap")
    start = len(agent.lines)
    result = run_sipp(tmp_path, "refer.xml", agent.target, timeout=60)
    assert result.returncode == 0, sipp_failure(result, tmp_path, agent)
    agent.wait_for(rf"REFER to sip:officer@127.0.0.1:{officer_port}", timeout=5, start=start)
    (summary,) = wait_summaries(agent, start, 1)
    outcome = wait_until(lambda: db_rows(agent, "SELECT outcome FROM calls WHERE external_id = ? AND outcome IS NOT NULL",
                                         (summary["call_id"],)))
    assert outcome == [("transferred",)]


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
    assert len({s["call_id"] for s in found}) == 3
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
    text = WhisperSTT(get_settings()).transcribe(heard16[int((spoken_until + 0.5) * 16000):]).text
    turns = speech_turns(agent, summary["call_id"])
    assert turns, (summary, db_rows(agent, "SELECT c.external_id, t.kind, t.transcript, t.outcome FROM call_turns t "
                                           "JOIN calls c ON c.id = t.call_id ORDER BY t.created_at DESC LIMIT 5"))
    answer = turns[0][1]
    heard_words, answer_words = _tokens(text), set(_tokens(answer))
    overlap = sum(w in answer_words for w in heard_words) / max(len(heard_words), 1)
    assert len(heard_words) >= 8 and overlap >= 0.3, (text, answer, overlap)


def test_agent_answers_options(agent):
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

