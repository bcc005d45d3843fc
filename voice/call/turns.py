"""One spoken caller turn: transcript → confirmation / goodbye / dialogue → spoken answer.

Kept apart from the state machine (:mod:`voice.call.session`) so the conversation policy reads in
one place:

* nothing recognised, or a question the engine cannot place → "please say it again"; after two
  such failures in a row the DTMF menu is offered;
* an answer the engine is not sure of (confidence below ``confirm_below``), or a low-confidence reply
  with a suggestion → "Bạn hỏi về … phải không?"; "có" speaks it, "không" asks again;
* a request for an officer (the dialogue's hand-off) → transfer; "tạm biệt" → goodbye;
* otherwise the answer's ``spoken_answer`` is played from the pre-rendered cache.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from voice.call import phrases
from voice.stt import Transcript

if TYPE_CHECKING:
    from voice.call.session import CallSession, TurnRecord

UNSURE_TRANSCRIPT = 0.45  # Whisper's mean token probability below this: confirm even a confident answer


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def take_turn(session: CallSession, future: Future[Transcript], speech_end: float) -> None:
    from voice.call.session import CallState, TurnRecord

    transcript = await asyncio.wrap_future(future)
    got_text = time.monotonic()
    record = TurnRecord(kind="speech", transcript=transcript.text, stt_confidence=round(transcript.confidence, 3))
    record.timings["stt_ms"] = _ms(transcript.elapsed_s)
    record.timings["speech_ms"] = _ms(transcript.audio_s)
    record.timings["transcript_after_speech_ms"] = _ms(got_text - speech_end)
    session.turns.append(record)
    text = transcript.text.strip()
    pending, session._pending = session._pending, None
    try:
        if not text:
            await _failed(session, record)
            return
        if pending is not None:
            if phrases.is_yes(text):
                if isinstance(pending, str):
                    result = await _respond(session, pending, record)
                    await _speak_answer(session, result.answer, record, speech_end)
                else:
                    await _speak_answer(session, pending, record, speech_end)
                return
            if phrases.is_no(text):
                await _failed(session, record)
                return
        if phrases.is_goodbye(text):
            record.outcome = "goodbye"
            await session.goodbye()
            return
        result = await _respond(session, text, record)
        answer = result.answer
        if result.handoff:
            record.outcome = "transfer"
            await session._start_transfer()
            return
        suggestion = answer.suggestions[0] if answer.reason == "low_confidence" and answer.suggestions else None
        unsure_answer = not answer.abstained and (answer.confidence < session.settings.confirm_below
                                                  or transcript.confidence < UNSURE_TRANSCRIPT)
        if suggestion or unsure_answer:
            topic = suggestion or answer.title or answer.question
            session._pending = suggestion or answer
            record.outcome = "confirm"
            record.topic, record.entry_id = answer.topic, answer.entry_id
            prompt = phrases.CONFIRM.format(title=_lower_first(topic.rstrip("?. ")))
            sent = await session._play_text(prompt)
            record.timings["first_audio_ms"] = _ms(sent - speech_end)
            return
        if answer.abstained and answer.reason in {"low_confidence", "out_of_scope", "invalid_input"}:
            session.failures += 1
            if session.failures >= 2:
                await _failed(session, record)
                return
            record.outcome = "declined"
        await _speak_answer(session, answer, record, speech_end)
    finally:
        if session.state is CallState.THINKING:
            session._listen()
        await session._store("add_turn", session.call_id, record)


async def _respond(session: CallSession, text: str, record: TurnRecord):
    dialogue = session.services.dialogue()
    if dialogue is None:
        raise RuntimeError("the dialogue is not loaded yet")
    started = time.perf_counter()
    result = await asyncio.to_thread(dialogue.respond, text, session.context, session.call_id)
    hint = session.topic_hint
    if hint is not None and not result.handoff and (result.answer.abstained or result.answer.topic != hint[0]):
        hinted = await asyncio.to_thread(dialogue.respond, f"{hint[2]} {text}", session.context, session.call_id)
        if not hinted.answer.abstained and hinted.answer.topic == hint[0]:
            hinted.answer.question = text
            result = hinted
    session.context = result.context
    record.timings["dialogue_ms"] = _ms(time.perf_counter() - started)
    return result


async def _speak_answer(session: CallSession, answer, record: TurnRecord, speech_end: float) -> None:
    from voice.call.session import CallState

    started = time.perf_counter()
    audio = session.services.audio.get(answer.spoken_answer)
    record.timings["prerendered"] = 1.0 if audio is not None else 0.0
    if audio is None:
        audio = await asyncio.to_thread(session.services.audio.speak, answer.spoken_answer)
    record.timings["tts_ms"] = _ms(time.perf_counter() - started)
    record.topic, record.entry_id, record.answer = answer.topic, answer.entry_id, answer.spoken_answer
    if not record.outcome:
        record.outcome = "answered" if not answer.abstained or answer.reason == "other_agency" else "declined"
    if record.outcome == "answered":
        session.failures = 0
    session.last_answer = audio
    sent = await session._play_audio(audio, CallState.SPEAKING)
    record.timings["first_audio_ms"] = _ms(sent - speech_end)


async def _failed(session: CallSession, record: TurnRecord) -> None:
    record.outcome = "not_understood"
    session.failures += 1
    if session.failures >= 2:
        session.failures = 0
        record.outcome = "menu"
        await session._play_text(phrases.OFFER_MENU)
    else:
        await session._play_text(phrases.NOT_UNDERSTOOD)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text
