"""Pure-Python parts of the SIP agent: digest auth, allow-list, playout buffer, options, targets, log redaction,
the loop hand-off, the core's transfer timeout, the Kamailio configuration and ``assistant up``'s SIP port check."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess

import pytest

from voice.sip.auth import NONCE_TTL_S, AllowList, AuthResult, DigestAuth, header, request_uri, source_host
from voice.sip.core import sip_target
from voice.sip.options import MAX_CALLS, SipOptions

URI = "sip:1000@127.0.0.1:5070"


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def _invite_with(auth: DigestAuth, *, user="alice", password="s3cret", nonce=None, qop=True, nc="00000001",
                 uri=URI, request_uri=URI, name="Authorization") -> str:
    nonce = nonce or auth.nonce()
    ha1, ha2 = _md5(f"{user}:{auth.realm}:{password}"), _md5(f"INVITE:{uri}")
    if qop:
        response = _md5(f"{ha1}:{nonce}:{nc}:abc:auth:{ha2}")
        extra = f', qop=auth, nc={nc}, cnonce="abc"'
    else:
        response, extra = _md5(f"{ha1}:{nonce}:{ha2}"), ""
    return (f"INVITE {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061\r\n"
            f'{name}: Digest username="{user}", realm="{auth.realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm=MD5{extra}\r\nContent-Length: 0\r\n\r\n')


def test_digest_accepts_right_and_refuses_wrong_credentials():
    auth = DigestAuth("alice", "s3cret", "hoidap")
    assert 'realm="hoidap"' in auth.challenge() and 'qop="auth"' in auth.challenge()
    assert "stale" not in auth.challenge() and auth.challenge(stale=True).endswith(", stale=true")
    assert auth.verify(_invite_with(auth))
    assert auth.verify(_invite_with(auth, qop=False))
    assert not auth.verify(_invite_with(auth, password="wrong"))
    assert not auth.verify(_invite_with(auth, user="bob"))
    assert not auth.verify("INVITE sip:x SIP/2.0\r\n\r\n")  # no Authorization
    assert not auth.verify(_invite_with(auth, nonce="123.forged"))


def test_digest_uri_must_be_the_request_uri():
    auth = DigestAuth("alice", "s3cret", "hoidap")
    # a response computed for another request (here sipp's default digest uri "sip:HOST:PORT") is refused
    assert auth.check(_invite_with(auth, uri="sip:127.0.0.1:5070")) is AuthResult.DENIED
    assert auth.check(_invite_with(auth, request_uri="sip:2000@127.0.0.1:5070")) is AuthResult.DENIED
    assert auth.verify(_invite_with(auth, uri="sip:1000@127.0.0.1:5070", request_uri="SIP:1000@127.0.0.1:5070"))
    assert request_uri(_invite_with(auth)) == URI and request_uri("garbage") is None


def test_digest_nonce_and_nc_are_single_use():
    auth = DigestAuth("alice", "s3cret", "hoidap")
    nonce = auth.nonce()
    captured = _invite_with(auth, nonce=nonce)
    assert auth.check(captured) is AuthResult.OK
    assert auth.check(captured) is AuthResult.STALE  # replayed: challenged again (stale=true), never accepted
    assert auth.check(_invite_with(auth, nonce=nonce, nc="00000002")) is AuthResult.OK  # the same nonce, next nc
    assert auth.check(_invite_with(auth, nonce=nonce, nc="00000002")) is AuthResult.STALE
    without_qop = _invite_with(auth, qop=False)
    assert auth.verify(without_qop) and not auth.verify(without_qop)  # no nc: the nonce itself is single-use
    assert auth.check(_invite_with(auth, nc="1")) is AuthResult.DENIED  # nc is 8 hex digits


def test_digest_nonce_expires_with_stale_and_the_replay_cache_is_bounded_in_time():
    now = [1_000_000.0]
    auth = DigestAuth("alice", "s3cret", "hoidap", clock=lambda: now[0])
    message = _invite_with(auth)
    now[0] += NONCE_TTL_S + 1
    assert auth.check(message) is AuthResult.STALE  # right password, old nonce: the caller retries silently
    assert auth.check(_invite_with(auth, nonce=auth.nonce(), password="wrong")) is AuthResult.DENIED
    for i in range(50):
        assert auth.verify(_invite_with(auth, nc=f"{i + 1:08x}"))
    now[0] += NONCE_TTL_S + 20
    auth.verify(_invite_with(auth))  # prunes what can no longer be replayed (the nonces expired)
    assert len(auth._used) == 1


def test_digest_header_parsing_is_lenient_about_spacing():
    auth = DigestAuth("alice", "s3cret", "hoidap")
    assert auth.verify(_invite_with(auth, name="Authorization "))  # "Authorization : Digest ..."
    assert auth.verify(_invite_with(auth, name="authorization"))
    folded = _invite_with(auth).replace(", uri=", ",\r\n  uri=")  # a folded (continued) header line
    assert auth.verify(folded)
    other_realm = 'Authorization: Digest username="x", realm="elsewhere", nonce="1", uri="u", response="r"\r\n'
    both = _invite_with(auth).replace("Via:", other_realm + "Via:", 1)  # two Authorization headers, ours second
    assert auth.verify(both)


def test_allow_list():
    assert AllowList([]).allows("203.0.113.9:5060")
    allow = AllowList(["10.0.0.0/8", "192.168.1.7"])
    assert allow.allows("10.1.2.3:5060") and allow.allows("192.168.1.7:5080")
    assert not allow.allows("127.0.0.1:5060") and not allow.allows("garbage")
    assert source_host("[::1]:5060") == "::1"
    assert header("INVITE x SIP/2.0\r\nAuthorization: Digest a=b\r\n\r\nbody", "authorization") == "Digest a=b"


def test_options_validation():
    with pytest.raises(ValueError):
        SipOptions(allow=("10.0.0.300/8",))
    with pytest.raises(ValueError):
        SipOptions(auth_user="alice")
    with pytest.raises(ValueError):
        SipOptions(transfer_mode="teleport")
    assert SipOptions(host="10.0.0.2", public_host="203.0.113.5").contact_host == "203.0.113.5"
    for bad_rtp in (0, 80, 65500, 70000):
        with pytest.raises(ValueError, match="RTP port"):
            SipOptions(rtp_port=bad_rtp)
    # a wildcard bind address is not an identity: the address of the default route (or loopback) is used
    wildcard = SipOptions(host="0.0.0.0").contact_host
    assert wildcard != "0.0.0.0" and socket.inet_aton(wildcard)


def test_max_calls_keeps_a_slot_for_the_bridge_leg():
    from assistant.config import Settings

    assert MAX_CALLS == 3 and SipOptions().max_calls == 3
    with pytest.raises(ValueError, match="max_calls must be 1..3"):
        SipOptions(max_calls=4)
    assert SipOptions.from_settings(Settings()).max_calls == 3  # ASSISTANT_SIP_MAX_CALLS unset
    assert SipOptions.from_settings(Settings(sip_max_calls=2)).max_calls == 2


def test_transfer_target():
    assert sip_target("+84912345678", None) == "tel:+84912345678"
    assert sip_target("+84912345678", "sip:officer@pbx") == "sip:officer@pbx"
    assert sip_target("sip:a@b", None) == "sip:a@b"
    assert sip_target(None, None) is None


def test_out_buffer_paces_marks_and_clears():
    from voice.sip.media import SILENCE_ULAW, OutBuffer

    marks: list[str] = []
    out = OutBuffer(on_mark=marks.append)
    out.mark("empty")  # nothing queued: reached at once
    assert marks == ["empty"]
    out.push(b"\x01" * 400)  # 2.5 frames
    out.mark("after")
    assert out.pending_ms == 50
    assert out.pop() == b"\x01" * 160 and marks == ["empty"]
    out.pop()
    last = out.pop()
    assert last == b"\x01" * 80 + SILENCE_ULAW[80:] and marks == ["empty", "after"]
    assert out.pop() is None and out.frames_played == 3
    out.push(b"\x02" * 1600)
    out.mark("cut")
    out.clear()  # barge-in: queued audio dropped, the pending mark echoed
    assert marks[-1] == "cut" and out.pop() is None


def test_up_starts_the_agent_only_when_enabled():
    from assistant.config import Settings
    from voice.sip.probe import free_port, options_ping, sip_part

    assert sip_part(Settings(sip_enabled=False), {}) is None
    part = sip_part(Settings(sip_enabled=True, sip_host="127.0.0.1", sip_port=5099), {"X": "1"})
    assert part.name == "sip" and part.argv[-5:] == ["sip", "--host", "127.0.0.1", "--port", "5099"]
    assert part.env == {"X": "1"}
    assert options_ping("127.0.0.1", free_port(), timeout=0.3) is None  # nothing there


def test_log_redaction_of_caller_uris_and_call_ids():
    from voice.sip.redact import call_ref, mask_uri

    assert mask_uri('"Nguyễn Văn A" <sip:0912345678@trunk.example>;tag=1') == "sip:[SĐT ***78]@trunk.example"
    assert mask_uri("<sip:+14155550100@10.0.0.1:5060>") == "sip:[***00]@10.0.0.1:5060"  # not a Vietnamese number
    assert mask_uri("tel:+84 91 234 5678") == "tel:[SĐT ***78]"
    assert mask_uri("<sip:caller@127.0.0.1:5061>") == "sip:caller@127.0.0.1:5061"
    assert mask_uri("sip:127.0.0.1:5060") == "sip:127.0.0.1:5060" and mask_uri("0912345678") == "[SĐT ***78]"
    assert mask_uri(None) == "-"
    ref = call_ref("a84b4c76e66710@pc33.example.com")
    assert len(ref) == 10 and "pc33" not in ref and ref == call_ref("a84b4c76e66710@pc33.example.com")


def test_events_to_a_closed_loop_are_dropped_and_latencies_are_bounded():
    from voice.sip.events import LATENCY_WINDOW, AgentStats, LoopEvents, Route

    loop = asyncio.new_event_loop()
    events = LoopEvents(lambda transport: None, loop)
    assert events.post(lambda: None)
    loop.close()
    assert not events.post(lambda: None)  # no RuntimeError on the media clock or the PJSIP thread
    events.send(Route(), "audio", b"x")
    stats = AgentStats()
    stats.latencies_ms.extend(range(LATENCY_WINDOW + 500))
    assert len(stats.latencies_ms) == LATENCY_WINDOW and stats.latencies_ms[-1] == LATENCY_WINDOW + 499


class _FakeSip:
    def __init__(self):
        self.calls: list[tuple] = []

    def transfer(self, uri):
        self.calls.append(("transfer", uri))

    def cancel_transfer(self):
        self.calls.append(("cancel",))


def test_core_gives_up_on_a_transfer_and_cancels_it(monkeypatch):
    import voice.sip.core as core

    monkeypatch.setattr(core, "TRANSFER_TIMEOUT_S", 0.05)
    sip = _FakeSip()
    assert asyncio.run(core.SipCallTransport(sip).transfer("sip:officer@x")) is False
    assert sip.calls == [("transfer", "sip:officer@x"), ("cancel",)]  # a ringing bridge leg is hung up

    async def answered_in_time():
        t = core.SipCallTransport(sip2)
        task = asyncio.ensure_future(t.transfer("+84912345678"))
        await asyncio.sleep(0.01)
        t.transfer_result(True)
        return await task

    sip2 = _FakeSip()
    monkeypatch.setattr(core, "TRANSFER_TIMEOUT_S", 5)
    assert asyncio.run(answered_in_time()) is True
    assert sip2.calls == [("transfer", "tel:+84912345678")]


def test_kamailio_config_is_valid_and_fails_over_on_full_agents(tmp_path):
    from sip_helpers import need

    from voice.sip.kamailio import CONFIG, render

    text = CONFIG.read_text()
    assert 't_check_status("(486)|(503)")' in text and "mpath=" not in text.replace('add: mpath="', "")
    cfg = render(tmp_path, "127.0.0.1:5999", ["127.0.0.1:5070", "127.0.0.1:5072"])
    check = subprocess.run([need("kamailio"), "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_up_refuses_a_busy_sip_port():
    from assistant.config import Settings
    from voice.sip.probe import free_port, sip_port_problems

    port = free_port()
    assert sip_port_problems(Settings(sip_enabled=False, sip_port=port), set()) == []
    assert sip_port_problems(Settings(sip_enabled=True, sip_port=port), set()) == []
    assert sip_port_problems(Settings(sip_enabled=True, sip_port=port), {port}) != []
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):  # SIP needs both UDP and TCP
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", port))
            assert sip_port_problems(Settings(sip_enabled=True, sip_host="127.0.0.1", sip_port=port), set()) == [
                f"sip port {port}"]
