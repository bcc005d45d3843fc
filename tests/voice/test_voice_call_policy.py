"""The call core's policy and timing edges: what each turn records, yes/no after a confirmation, the
DTMF topic, unsure transcripts, slow sends, barge-in during a send, the watchdog and the call limit.

Real dialogue (engine), audio cache and call store; a scripted recogniser; fake or recording transports.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest
from voice_call_helpers import RecordingWebSocket, greeted, said, say, speak, until

from assistant.config import Settings
from voice.audio import mulaw_encode
from voice.call import CallState, phrases
from voice.call.turns import UNSURE_TRANSCRIPT
from voice.prerender import AudioCache
from voice.tts import SynthesisError
from voice.twilio.media_stream import TwilioTransport

pytestmark = pytest.mark.integration
SILENCE = mulaw_encode(np.zeros(160, np.int16))
QUESTION = "Làm căn cước cho con dưới 6 tuổi thế nào?"


async def _listening(session):
    await until(lambda: session.state is CallState.LISTENING)


def test_every_turn_records_what_the_call_said(make_call, speech_frames):
    session, transport, stt, store = make_call()

    async def call():
        await greeted(session)
        for text in ("", "", "lệ phí bao nhiêu", "Dạ, không phải", QUESTION):  # 2 misses, confirm, "no", answer
            n = len(session.turns)
            await say(session, stt, text, speech_frames)
            await until(lambda n=n: len(session.turns) > n and session.turns[-1].outcome)
            await _listening(session)
        for key in ("9", "#"):  # the menu; repeat the answer
            await session.on_dtmf(key)
            await _listening(session)
        await say(session, stt, "Thôi, tạm biệt nhé.", speech_frames)
        await session.wait_closed()

    asyncio.run(asyncio.wait_for(call(), 60))
    outcomes = [(t.kind, t.outcome) for t in session.turns]
    assert outcomes == [("speech", "not_understood"), ("speech", "menu"), ("speech", "confirm"),
                        ("speech", "not_understood"), ("speech", "answered"), ("dtmf", "menu"),
                        ("dtmf", "repeat"), ("speech", "goodbye")]
    answers = [t.answer for t in session.turns]
    assert answers[:2] == [phrases.NOT_UNDERSTOOD, phrases.OFFER_MENU]
    assert answers[2].startswith("Bạn hỏi về ") and answers[3] == phrases.NOT_UNDERSTOOD  # "dạ, không phải": no
    assert answers[4] == answers[6] and answers[5] == phrases.MENU and answers[7] == phrases.GOODBYE
    for text in answers:  # each is exactly what the caller heard
        assert said(session, text) in transport.audio
    stored = store.get_call(session.call_id)["turns"]
    assert [t["answer"] for t in stored] == answers and all(answers)


def test_dtmf_topic_applies_to_the_next_question_only(make_call, speech_frames):
    session, transport, stt, _ = make_call()
    dialogue, asked = session.services.dialogue(), []

    class Recording:  # the real dialogue; remembers what it was asked
        def respond(self, text, *args):
            asked.append(text)
            return dialogue.respond(text, *args)

    session.services.dialogue = lambda: Recording()

    async def call():
        await greeted(session)
        await session.on_dtmf("5")  # hộ chiếu
        await _listening(session)
        for text in ("lệ phí bao nhiêu", "đăng ký tạm trú cần giấy tờ gì"):
            n = len(session.turns)
            await say(session, stt, text, speech_frames)
            await until(lambda n=n: len(session.turns) > n and session.turns[-1].outcome)
            await _listening(session)
        await session.on_hangup()

    asyncio.run(asyncio.wait_for(call(), 40))
    first, second = session.turns[1:3]
    # alone, "lệ phí bao nhiêu" lands on driving licences: the chosen topic is tried and wins
    assert (first.outcome, first.topic) == ("answered", "xuat_nhap_canh")
    assert asked == ["lệ phí bao nhiêu", "hộ chiếu lệ phí bao nhiêu", "đăng ký tạm trú cần giấy tờ gì"]
    assert second.topic == "cu_tru" and session.topic_hint is None


@pytest.mark.parametrize(("confidence", "outcome"), [(UNSURE_TRANSCRIPT - 0.1, "confirm"),
                                                     (UNSURE_TRANSCRIPT + 0.1, "answered")])
def test_an_unsure_transcript_is_confirmed(make_call, speech_frames, confidence, outcome):
    session, transport, stt, _ = make_call()
    stt.confidence = confidence

    async def call():
        await greeted(session)
        await say(session, stt, QUESTION, speech_frames)
        await until(lambda: session.turns and session.turns[-1].outcome)
        await _listening(session)
        if outcome == "confirm":
            await say(session, stt, "Vâng, đúng rồi.", speech_frames)
            await until(lambda: len(session.turns) > 1 and session.turns[-1].outcome)
        await session.on_hangup()

    asyncio.run(asyncio.wait_for(call(), 30))
    assert session.turns[0].outcome == outcome and session.turns[0].topic == "can_cuoc"
    assert session.turns[-1].outcome == "answered"


def test_a_slow_send_is_not_taken_for_a_played_prompt(make_call, speech_frames, caplog):
    session, transport, stt, _ = make_call(send_s=0.7)  # each prompt takes 0.7 s to go out

    async def call():
        await greeted(session)
        await say(session, stt, "Thôi, tạm biệt nhé.", speech_frames)
        await session.wait_closed()

    with caplog.at_level(logging.WARNING, logger="assistant.voice.call"):
        asyncio.run(asyncio.wait_for(call(), 30))
    # while the audio was still going out, the watchdog did not play the mark itself
    assert transport.states_after_send == [CallState.GREETING, CallState.GOODBYE]
    assert transport.hung_up and "never came back" not in caplog.text


def test_barge_in_while_a_long_prompt_is_sent(make_call, speech_frames):
    ws = RecordingWebSocket(send_s=0.002)  # ~500 frames of greeting: about a second to send
    session, transport, stt, _ = make_call(transport=TwilioTransport(ws, "MZ1", "CA1", Settings()))
    greeting_frames = -(-len(said(session, phrases.GREETING)) // 160)

    async def call():
        start = asyncio.create_task(session.start())
        await until(lambda: ws.events().count("media") >= 60)
        stt.text = "Làm hộ chiếu ở đâu?"
        await speak(session, speech_frames[:40])  # the caller talks over it: no end of turn yet
        await start
        await asyncio.sleep(0.3)
        await session.on_hangup()

    asyncio.run(asyncio.wait_for(call(), 30))
    events = ws.events()
    assert session.barge_ins == 1 and "clear" in events
    assert "media" not in events[events.index("clear"):]  # nothing of the greeting after the clear
    assert events.count("media") < greeting_frames
    assert "mark" not in events  # the interrupted greeting's mark is not sent (and never one named None)


class _FailsOnce(AudioCache):
    """The cache, except that synthesizing ``text`` fails the first time."""

    def __init__(self, settings, text):
        super().__init__(settings)
        self.text, self.failed = text, False

    def speak(self, text):
        if text == self.text and not self.failed:
            self.failed = True
            raise SynthesisError("espeak-ng crashed")
        return super().speak(text)


@pytest.mark.parametrize("failing", [False, True])
def test_silence_timeouts_are_recorded_and_survive_a_failure(make_call, failing):
    audio = _FailsOnce(Settings(), phrases.STILL_THERE if failing else None)
    session, transport, _, store = make_call(silence_timeout_s=0.3, audio=audio)

    async def call():
        await session.start()
        while not session.closed:
            await session.on_audio(SILENCE)
            await asyncio.sleep(0.02)

    asyncio.run(asyncio.wait_for(call(), 20))
    assert transport.hung_up and transport.audio[-1] == said(session, phrases.GOODBYE)
    turns = store.get_call(session.call_id)["turns"]
    assert [(t["kind"], t["outcome"]) for t in turns] == [("timeout", "silence")] * 2
    # the reprompt that could not be synthesized was not said; the watchdog went on to the goodbye
    assert [t["answer"] for t in turns] == ["" if failing else phrases.STILL_THERE, phrases.GOODBYE]


def test_call_limit_while_thinking_cancels_the_turn(make_call, speech_frames):
    session, transport, stt, _ = make_call()
    stt.delay = 1.5  # the recogniser is busy: the turn waits for its transcript

    async def call():
        await greeted(session)
        await say(session, stt, QUESTION, speech_frames)
        await until(lambda: session.state is CallState.THINKING)
        transport.mark_delay = 3.0  # the goodbye is still playing when the transcript comes
        session._started -= session.settings.max_call_s + 1  # the call has now lasted too long
        await session.wait_closed()
        await asyncio.sleep(stt.delay)  # the transcript arrives after the goodbye: nothing more is said

    asyncio.run(asyncio.wait_for(call(), 30))
    assert transport.audio == [said(session, phrases.GREETING), said(session, phrases.TIME_LIMIT)]
    assert transport.hung_up and session.outcome == "abandoned"


def test_no_speculative_decode_while_a_stale_one_still_runs(make_call, speech_frames):
    """A running decode cannot be stopped: speculating again at every pause of the caller would queue the
    final transcript behind this call's stale decodes (seen as ~0.5-1 s more latency on SIP calls)."""
    session, transport, stt, store = make_call()
    stt.delay = 2.5  # longer than the question: a speculation started at its first pause is still running
    worker = session.services.stt
    real_submit = worker.submit
    busy_at_submit: list[bool] = []

    def submit(pcm):
        busy_at_submit.append(worker.busy)
        return real_submit(pcm)

    worker.submit = submit
    pauses = []
    real_feed = session._endpointer.feed

    def feed(pcm):
        event = real_feed(pcm)
        if event is not None and event.name == "PAUSE":
            pauses.append(worker.busy)
        return event

    session._endpointer.feed = feed

    async def call():
        await greeted(session)
        stt.text = QUESTION
        for frame in speech_frames:  # in real time, as a caller speaks
            await session.on_audio(frame)
            await asyncio.sleep(0.02)
        await until(lambda: session.turns and session.turns[-1].outcome)

    asyncio.run(asyncio.wait_for(call(), 60))
    assert len(pauses) >= 2 and any(pauses), pauses  # the question has pauses, some while a decode runs
    assert busy_at_submit and not any(busy_at_submit[:-1]), busy_at_submit  # only the final one may queue
    assert session.turns[-1].transcript == QUESTION
