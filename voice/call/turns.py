"""One spoken caller turn: transcript → confirmation / goodbye / dialogue → spoken answer.

Kept apart from the state machine (:mod:`voice.call.session`) so the conversation policy reads in
one place:

* nothing recognised, or a question the engine cannot place → "please say it again"; after two
  such failures in a row the DTMF menu is offered;
* an answer the engine is not sure of (confidence below ``confirm_below``), or a low-confidence reply
  with a suggestion → "Bạn hỏi về … phải không?"; "có" speaks it, "không" asks again;
* a request for an officer (the dialogue's hand-off) → transfer; "tạm biệt" → goodbye;
* otherwise the answer's ``spoken_answer`` is played from the pre-rendered cache.

Every turn record stores in ``answer`` what the call said in reply (the spoken answer or the prompt).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from voice.call import phrases
from voice.stt import Transcript

if TYPE_CHECKING:
    from voice.call.session import CallSession, TurnRecord

log = logging.getLogger("assistant.voice.call")

#: Whisper's mean token probability (exp of faster-whisper's avg_logprob) below which a transcript is
#: confirmed even when the answer is confident. Measured after an 8 kHz μ-law round trip on the six
#: natural recordings clean, with band noise at 15 and 5 dB SNR (18 decodes): 0.34-0.74, Spearman
#: ρ = -0.80 with the character error rate; below 0.5: 8 decodes, mean CER 0.38; at or above: 10, mean
#: CER 0.20. espeak-ng questions (badly misheard): 0.36-0.49.
UNSURE_TRANSCRIPT = 0.5


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def take_turn(session: CallSession, future: Future[Transcript], speech_end: float) -> None:
    """Wait for the transcript, reply, record the turn; a failure is apologised for and recorded."""
    from voice.call.session import CallState, TurnRecord

    record = TurnRecord(kind="speech")
    recorded = False
    try:
        transcript = await asyncio.wrap_future(future)
        record.transcript, record.stt_confidence = transcript.text, round(transcript.confidence, 3)
        record.timings["stt_ms"] = _ms(transcript.elapsed_s)
        record.timings["speech_ms"] = _ms(transcript.audio_s)
        record.timings["transcript_after_speech_ms"] = _ms(time.monotonic() - speech_end)
        session.turns.append(record)
        recorded = True
        await _reply(session, transcript, record, speech_end)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - the call goes on with an apology
        log.exception("call %s: turn failed", session.call_id)
        if not recorded:
            session.turns.append(record)
            recorded = True
        record.outcome, record.answer = "error", phrases.APOLOGY
        if session.state is not CallState.CLOSED:
            await session._play_text(phrases.APOLOGY)
    finally:
        if session.state is CallState.THINKING:
            session._listen()
        if recorded:
            await session._store("add_turn", session.call_id, record)


async def _reply(session: CallSession, transcript: Transcript, record: TurnRecord, speech_end: float) -> None:
    text = transcript.text.strip()
    pending, session._pending = session._pending, None
    if not text:
        await _failed(session, record)
        return
    if pending is not None:
        if phrases.is_no(text):  # before "yes": "dạ không" is a no
            await _failed(session, record)
            return
        if phrases.is_yes(text):
            if isinstance(pending, str):
                result = await _respond(session, pending, record)
                await _speak_answer(session, result.answer, record, speech_end)
            else:
                await _speak_answer(session, pending, record, speech_end)
            return
    if phrases.is_goodbye(text):
        record.outcome, record.answer = "goodbye", phrases.GOODBYE
        await session.goodbye()
        return
    result = await _respond(session, text, record)
    answer = result.answer
    if result.handoff:
        record.outcome = "transfer"
        record.answer = await session._start_transfer()
        return
    suggestion = answer.suggestions[0] if answer.reason == "low_confidence" and answer.suggestions else None
    unsure_answer = not answer.abstained and (answer.confidence < session.settings.confirm_below
                                              or transcript.confidence < UNSURE_TRANSCRIPT)
    if suggestion or unsure_answer:
        topic = suggestion or answer.title or answer.question
        session._pending = suggestion or answer
        record.outcome = "confirm"
        record.topic, record.entry_id = answer.topic, answer.entry_id
        record.answer = phrases.CONFIRM.format(title=_lower_first(topic.rstrip("?. ")))
        sent = await session._play_text(record.answer)
        record.timings["first_audio_ms"] = _ms(sent - speech_end)
        return
    if answer.abstained and answer.reason in {"low_confidence", "out_of_scope", "invalid_input"}:
        session.failures += 1
        if session.failures >= 2:
            await _failed(session, record)
            return
        record.outcome = "declined"
    await _speak_answer(session, answer, record, speech_end)


async def _respond(session: CallSession, text: str, record: TurnRecord):
    """The dialogue's reply; a DTMF topic chosen before is tried for this one question, then forgotten."""
    dialogue = session.services.dialogue()
    if dialogue is None:
        raise RuntimeError("the dialogue is not loaded yet")
    started = time.perf_counter()
    result = await asyncio.to_thread(dialogue.respond, text, session.context, session.call_id)
    hint, session.topic_hint = session.topic_hint, None
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
    session.last_answer, session.last_answer_text = audio, answer.spoken_answer
    sent = await session._play_audio(audio, CallState.SPEAKING)
    record.timings["first_audio_ms"] = _ms(sent - speech_end)


async def _failed(session: CallSession, record: TurnRecord) -> None:
    record.outcome = "not_understood"
    session.failures += 1
    if session.failures >= 2:
        session.failures = 0
        record.outcome, record.answer = "menu", phrases.OFFER_MENU
    else:
        record.answer = phrases.NOT_UNDERSTOOD
    await session._play_text(record.answer)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text
