"""The call state machine with the real dialogue (engine) and audio, a scripted recogniser and a fake transport.

Speech recognition quality is tested with the real Whisper in test_voice_twilio_calls.py; here a
fake STT (same interface) returns chosen texts, so each conversation path is exercised exactly
(fixtures ``make_call`` and ``speech_frames`` in conftest.py, helpers in voice_call_helpers.py).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from voice_call_helpers import greeted as _greeted
from voice_call_helpers import said as _said
from voice_call_helpers import say as _say
from voice_call_helpers import speak as _speak
from voice_call_helpers import until as _until

from voice.audio import mulaw_encode
from voice.call import CallState, phrases

pytestmark = pytest.mark.integration


def test_question_is_answered_and_recorded(make_call, speech_frames):
    session, transport, stt, store = make_call()

    async def call():
        await _greeted(session)
        await _say(session, stt, "Làm căn cước cho con dưới 6 tuổi thế nào?", speech_frames)
        await _until(lambda: any(t.outcome == "answered" for t in session.turns))
        await session.on_hangup()

    asyncio.run(call())
    turn = next(t for t in session.turns if t.outcome == "answered")
    assert turn.topic == "can_cuoc" and turn.answer
    assert transport.audio[-1] == _said(session, turn.answer)  # the pre-rendered spoken answer
    assert turn.timings["first_audio_ms"] < 2000 and turn.timings["prerendered"] == 1.0
    record = next(c for c in store.list_calls() if c["id"] == session.call_id)
    assert record["outcome"] == "answered" and record["caller"] == "[SĐT ***78]"
    assert record["turns"][0]["topic"] == "can_cuoc"


def test_two_failed_recognitions_offer_the_menu(make_call, speech_frames):
    session, transport, stt, _ = make_call()

    async def call():
        await _greeted(session)
        stt.text = ""
        for _ in range(2):
            n = len(transport.audio)
            await _speak(session, speech_frames)
            await _until(lambda n=n: len(transport.audio) > n and session.state is CallState.LISTENING)
        await session.on_hangup()

    asyncio.run(call())
    assert transport.audio[-2] == _said(session, phrases.NOT_UNDERSTOOD)
    assert transport.audio[-1] == _said(session, phrases.OFFER_MENU)
    assert session.outcome == "abandoned"


def test_unsure_answer_is_confirmed_then_spoken(make_call, speech_frames):
    session, transport, stt, _ = make_call(confirm_below=1.01)  # confirm everything

    async def call():
        await _greeted(session)
        await _say(session, stt, "đăng ký tạm trú cần giấy tờ gì", speech_frames)
        await _until(lambda: any(t.outcome == "confirm" for t in session.turns) and session.state is CallState.LISTENING)
        await _say(session, stt, "Đúng rồi.", speech_frames)
        await _until(lambda: any(t.outcome == "answered" for t in session.turns))
        await session.on_hangup()

    asyncio.run(call())
    confirm = next(t for t in session.turns if t.outcome == "confirm")
    assert confirm.topic == "cu_tru"
    assert session.outcome == "answered"


def test_dtmf_topic_menu_repeat_and_transfer(make_call):
    session, transport, stt, _ = make_call()

    async def call():
        await _greeted(session)
        await session.on_dtmf("#")
        await session.on_dtmf("9")
        await session.on_dtmf("2")
        await _until(lambda: session.state is CallState.LISTENING)
        await session.on_dtmf("0")
        await session.wait_closed()

    asyncio.run(asyncio.wait_for(call(), 20))
    spoken = transport.audio
    assert _said(session, phrases.NOTHING_TO_REPEAT) in spoken and _said(session, phrases.MENU) in spoken
    assert _said(session, phrases.TOPIC_CHOSEN.format(name="căn cước")) in spoken
    assert spoken[-1] == _said(session, phrases.TRANSFERRING)
    assert session.topic_hint[0] == "can_cuoc"
    assert transport.transfers == ["+842400000113"] and session.outcome == "transferred"
    assert ("clear",) in transport.events  # each key press interrupts the prompt playing


def test_goodbye_hangs_up(make_call, speech_frames):
    session, transport, stt, _ = make_call()

    async def call():
        await _greeted(session)
        await _say(session, stt, "Thôi, tạm biệt nhé.", speech_frames)
        await session.wait_closed()

    asyncio.run(asyncio.wait_for(call(), 20))
    assert transport.hung_up and transport.audio[-1] == _said(session, phrases.GOODBYE)


def test_silence_reprompts_then_ends_the_call(make_call):
    session, transport, _, _ = make_call(silence_timeout_s=0.3)
    silence = mulaw_encode(np.zeros(160, np.int16))

    async def call():
        await session.start()
        while not session.closed:
            await session.on_audio(silence)
            await asyncio.sleep(0.02)

    asyncio.run(asyncio.wait_for(call(), 20))
    assert _said(session, phrases.STILL_THERE) in transport.audio
    assert transport.audio[-1] == _said(session, phrases.GOODBYE) and transport.hung_up
    assert session.outcome == "abandoned"


def test_barge_in_clears_playback_and_listens(make_call, speech_frames):
    session, transport, stt, _ = make_call(echo_marks=False)  # the greeting "keeps playing"

    async def call():
        await session.start()
        assert session.state is CallState.GREETING
        stt.text = "Làm hộ chiếu ở đâu?"
        await _speak(session, speech_frames[:40])
        assert session.barge_ins == 1 and ("clear",) in transport.events
        await _speak(session, speech_frames[40:])
        await _until(lambda: any(t.kind == "speech" and t.outcome for t in session.turns))
        await session.on_hangup()

    asyncio.run(asyncio.wait_for(call(), 20))
    assert session.turns[0].topic == "xuat_nhap_canh"


def test_max_call_length_says_goodbye(make_call):
    session, transport, _, _ = make_call(max_call_s=0.3)

    async def call():
        await session.start()
        await session.wait_closed()

    asyncio.run(asyncio.wait_for(call(), 20))
    assert transport.audio[-1] == _said(session, phrases.TIME_LIMIT)
