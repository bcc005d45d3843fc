"""Pure-Python parts of the SIP agent: digest auth, allow-list, playout buffer, options, targets."""

from __future__ import annotations

import hashlib

import pytest

from voice.sip.auth import AllowList, DigestAuth, header, source_host
from voice.sip.core import sip_target
from voice.sip.options import SipOptions


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def _invite_with(auth: DigestAuth, *, user="alice", password="s3cret", nonce=None, qop=True) -> str:
    nonce = nonce or auth.nonce()
    uri = "sip:1000@127.0.0.1:5070"
    ha1, ha2 = _md5(f"{user}:{auth.realm}:{password}"), _md5(f"INVITE:{uri}")
    if qop:
        response = _md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}")
        extra = ', qop=auth, nc=00000001, cnonce="abc"'
    else:
        response, extra = _md5(f"{ha1}:{nonce}:{ha2}"), ""
    return (f"INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061\r\n"
            f'Authorization: Digest username="{user}", realm="{auth.realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm=MD5{extra}\r\nContent-Length: 0\r\n\r\n')


def test_digest_accepts_right_and_refuses_wrong_credentials():
    auth = DigestAuth("alice", "s3cret", "hoidap")
    assert 'realm="hoidap"' in auth.challenge() and 'qop="auth"' in auth.challenge()
    assert auth.verify(_invite_with(auth))
    assert auth.verify(_invite_with(auth, qop=False))
    assert not auth.verify(_invite_with(auth, password="wrong"))
    assert not auth.verify(_invite_with(auth, user="bob"))
    assert not auth.verify("INVITE sip:x SIP/2.0\r\n\r\n")  # no Authorization
    assert not auth.verify(_invite_with(auth, nonce="123.forged"))


def test_digest_nonce_expires():
    now = [1_000_000.0]
    auth = DigestAuth("alice", "s3cret", "hoidap", clock=lambda: now[0])
    message = _invite_with(auth)
    now[0] += 301
    assert not auth.verify(message)


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
