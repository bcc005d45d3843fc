"""One phone call: greeting, listening, thinking, speaking, barge-in, DTMF, confirmation, transfer, goodbye.

See :mod:`voice.call` for the contract with transports. The session keeps the conversation state;
blocking work (Whisper, the dialogue, synthesis, the database) runs in threads so one event loop
serves many calls. Speculative transcription: at the first pause in the caller's speech (100 ms) the
utterance so far goes to Whisper; if the caller does not resume before the end of the turn
(600 ms), that result is the final transcript, so most of the decoding happens while the endpointer
waits. A speculation still queued when the caller resumes is cancelled; utterances of several calls
waiting for the model are decoded together in one batch.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.audio import mulaw_decode, resample
from voice.audio.g711 import FRAME_BYTES, SAMPLE_RATE
from voice.call import phrases
from voice.call.services import VoiceServices
from voice.call.transport import CallTransport
from voice.stt import STT_RATE, Transcript
from voice.vad import Endpointer, VadEvent

log = logging.getLogger("assistant.voice.call")
FAILED_REASONS = {"low_confidence", "out_of_scope", "invalid_input"}
WATCHDOG_S = 0.2
MARK_GRACE_S = 3.0  # a mark not echoed this long after its audio should have ended counts as played


class CallState(str, enum.Enum):
    GREETING = "greeting"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    TRANSFERRING = "transferring"
    GOODBYE = "goodbye"
    CLOSED = "closed"


@dataclass
class TurnRecord:
    """One caller turn, as recorded (texts are masked by the store)."""

    kind: str  # speech | dtmf | timeout
    transcript: str = ""
    stt_confidence: float | None = None
    topic: str | None = None
    entry_id: str | None = None
    answer: str = ""  # what the call said in reply: the spoken answer or the prompt
    outcome: str = ""  # answered | confirm | not_understood | declined | transfer | goodbye | menu | topic | repeat
    #                    | silence | error
    timings: dict[str, float] = field(default_factory=dict)


class CallSession:
    """The state machine of one call, driven by a transport (see :mod:`voice.call`)."""

    def __init__(self, services: VoiceServices, transport: CallTransport, *, call_id: str, channel: str,
                 caller: str | None = None, external_id: str | None = None):
        self.services = services
        self.settings = services.settings
        self.transport = transport
        self.call_id = call_id
        self.channel = channel
        self.caller = caller
        self.external_id = external_id
        self.state = CallState.GREETING
        self.turns: list[TurnRecord] = []
        self.context: dict[str, Any] = {}
        self.topic_hint: tuple[str, str, str] | None = None
        self.failures = 0
        self.barge_ins = 0
        self.transferred = False
        self.last_answer: bytes | None = None
        self.last_answer_text = ""
        self._endpointer = Endpointer(services.endpoint)
        self._buffer = b""
        self._pending: Any = None  # an answer (or a suggested question) awaiting "có"/"không"
        self._speculation: tuple[int, Future[Transcript]] | None = None
        self._stale: Future[Transcript] | None = None  # a dropped speculation the model was already decoding
        self._last_voiced_at = 0.0
        self._mark: str | None = None
        self._mark_seq = 0
        self._playback_deadline = 0.0
        self._after: str = "listen"
        self._listen_since = time.monotonic()
        self._reprompted = False
        self._started = time.monotonic()
        self._task: asyncio.Task | None = None
        self._watchdog: asyncio.Task | None = None
        self._closed = asyncio.Event()
        self.outcome: str | None = None

    # ---- called by the transport -------------------------------------------------------------
    async def start(self) -> None:
        self._started = time.monotonic()
        await self._store("start_call", self.call_id, channel=self.channel, external_id=self.external_id,
                          caller=self.caller)
        self._watchdog = asyncio.create_task(self._watch())
        await self._play_text(phrases.GREETING, CallState.GREETING)

    async def on_audio(self, frame: bytes) -> None:
        if self.state is CallState.CLOSED:
            return
        self._buffer += frame
        while len(self._buffer) >= FRAME_BYTES:
            chunk, self._buffer = self._buffer[:FRAME_BYTES], self._buffer[FRAME_BYTES:]
            await self._on_frame(mulaw_decode(chunk))

    async def on_dtmf(self, digit: str) -> None:
        if self.state in (CallState.CLOSED, CallState.GOODBYE, CallState.TRANSFERRING):
            return
        digit = str(digit).strip()[:1]
        if not digit:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._drop_speculation()
        self._endpointer.reset()
        self._pending = None
        record = TurnRecord(kind="dtmf", transcript=digit)
        self.turns.append(record)
        await self._interrupt()
        try:
            if digit == phrases.TRANSFER_KEY:
                record.outcome = "transfer"
                record.answer = await self._start_transfer()
            elif digit in phrases.TOPIC_KEYS:
                self.topic_hint = phrases.TOPIC_KEYS[digit]
                record.outcome, record.topic = "topic", self.topic_hint[0]
                record.answer = phrases.TOPIC_CHOSEN.format(name=self.topic_hint[1])
                await self._play_text(record.answer)
            elif digit == phrases.REPEAT_KEY:
                record.outcome = "repeat"
                if self.last_answer:
                    record.answer = self.last_answer_text
                    await self._play_audio(self.last_answer, CallState.SPEAKING)
                else:
                    record.answer = phrases.NOTHING_TO_REPEAT
                    await self._play_text(record.answer)
            else:
                record.outcome, record.answer = "menu", phrases.MENU
                await self._play_text(record.answer)
        finally:
            await self._store("add_turn", self.call_id, record)

    async def on_mark(self, name: str) -> None:
        if name != self._mark or self.state is CallState.CLOSED:
            return
        self._mark = None
        after, self._after = self._after, "listen"
        if after == "hangup":
            await self.transport.hangup()
            await self._close()
        elif after == "transfer":
            await self._do_transfer()
        else:
            self._listen()

    async def on_hangup(self) -> None:
        await self._close()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # ---- audio in ------------------------------------------------------------------------------
    async def _on_frame(self, pcm: np.ndarray) -> None:
        if self.state in (CallState.THINKING, CallState.TRANSFERRING, CallState.GOODBYE):
            return
        event = self._endpointer.feed(pcm)
        if self._endpointer.last_voiced and (self._endpointer.in_speech or event is not None):
            self._last_voiced_at = time.monotonic()
        if event is VadEvent.SPEECH_START:
            if self.state in (CallState.SPEAKING, CallState.GREETING):
                self.barge_ins += 1
                await self._interrupt()
            self.state = CallState.LISTENING
        elif event is VadEvent.PAUSE and (self._stale is None or self._stale.done()):
            # a decode cannot be stopped once it runs: while this call's stale speculation (the caller went
            # on) is still decoding, another would only queue the final transcript behind more stale work
            utterance = self._endpointer.utterance()
            self._speculation = (self._endpointer.voiced_tail, self.services.stt.submit(_to_stt(utterance)))
        elif event is VadEvent.RESUME:
            self._drop_speculation()
        elif event is VadEvent.SPEECH_END:
            speculation = self._speculation
            self._speculation = None
            if speculation is None or speculation[0] != self._endpointer.voiced_tail:
                if speculation is not None:
                    speculation[1].cancel()
                speculation = (self._endpointer.voiced_tail,
                               self.services.stt.submit(_to_stt(self._endpointer.utterance())))
            self.state = CallState.THINKING
            self._task = asyncio.create_task(self._turn(speculation[1], self._last_voiced_at))

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            if not self._speculation[1].cancel():
                self._stale = self._speculation[1]
            self._speculation = None

    # ---- a turn --------------------------------------------------------------------------------
    async def _turn(self, future: Future[Transcript], speech_end: float) -> None:
        from voice.call.turns import take_turn

        try:
            await take_turn(self, future, speech_end)  # records the turn; apologises when it fails
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - even the apology failed: the call goes on
            log.exception("call %s: turn failed", self.call_id)

    # ---- audio out -------------------------------------------------------------------------------
    async def _play_text(self, text: str, state: CallState = CallState.SPEAKING, after: str = "listen") -> float:
        audio = await asyncio.to_thread(self.services.audio.speak, text)
        return await self._play_audio(audio, state, after)

    async def _play_audio(self, audio: bytes, state: CallState, after: str = "listen") -> float:
        """Send ``audio`` and a mark; returns the monotonic time the audio went out.

        While the audio is being sent the watchdog must not take the new mark as overdue (its
        deadline is only known afterwards), and a barge-in during the send (``_interrupt``: the mark
        is no longer ours) means the mark is not sent at all.
        """
        if self.state is CallState.CLOSED:
            return time.monotonic()
        self.state = state
        self._after = after
        self._mark_seq += 1
        mark = self._mark = f"{self._mark_seq}-{state.value}"
        self._playback_deadline = math.inf
        sent = time.monotonic()
        try:
            await self.transport.send_audio(audio)
            if self._mark == mark:
                await self.transport.send_mark(mark)
        finally:
            if self._mark == mark:
                self._playback_deadline = sent + len(audio) / SAMPLE_RATE + MARK_GRACE_S
        return sent

    async def _interrupt(self) -> None:
        """Stop what is playing (barge-in, a key press)."""
        if self._mark is not None:
            self._mark = None
            self._after = "listen"
            await self.transport.clear_audio()

    def _listen(self) -> None:
        self.state = CallState.LISTENING
        self._listen_since = time.monotonic()
        self._endpointer.reset()

    # ---- transfer, goodbye, end ---------------------------------------------------------------
    async def _start_transfer(self) -> str:
        """Announce the transfer (or that there is none); returns what was said."""
        if not self.settings.transfer_target:
            await self._play_text(phrases.NO_TRANSFER)
            return phrases.NO_TRANSFER
        await self._play_text(phrases.TRANSFERRING, CallState.TRANSFERRING, after="transfer")
        return phrases.TRANSFERRING

    async def _do_transfer(self) -> None:
        try:
            ok = await self.transport.transfer(self.settings.transfer_target)
        except Exception:  # noqa: BLE001 - a failed transfer must not drop the caller
            log.exception("call %s: transfer failed", self.call_id)
            ok = False
        if ok:
            self.transferred = True
            await self._close()
        else:
            await self._play_text(phrases.NO_TRANSFER)

    async def goodbye(self, text: str = phrases.GOODBYE) -> None:
        await self._play_text(text, CallState.GOODBYE, after="hangup")

    async def _watch(self) -> None:
        """Overdue marks, the call length limit and caller silence; one failing check never stops it."""
        while not self._closed.is_set():
            await asyncio.sleep(WATCHDOG_S)
            if self.state is CallState.CLOSED:
                return
            try:
                await self._check(time.monotonic())
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep watching: the limits must hold for the rest of the call
                log.exception("call %s: watchdog check failed", self.call_id)

    async def _check(self, now: float) -> None:
        s = self.settings
        if self._mark is not None and now > self._playback_deadline:
            log.warning("call %s: mark %s never came back; treating it as played", self.call_id, self._mark)
            await self.on_mark(self._mark)
        elif now - self._started > s.max_call_s and self.state not in (CallState.GOODBYE, CallState.TRANSFERRING):
            await self._cancel_turn()  # else the turn's answer would replace the goodbye (and its hang-up)
            await self._interrupt()
            await self.goodbye(phrases.TIME_LIMIT)
        elif (self.state is CallState.LISTENING and not self._endpointer.in_speech
              and now - self._listen_since > s.silence_timeout_s):
            record = TurnRecord(kind="timeout", outcome="silence")
            self.turns.append(record)
            try:  # the record says what was played (nothing, when the prompt could not be)
                if self._reprompted:
                    await self.goodbye()
                    record.answer = phrases.GOODBYE
                else:
                    self._reprompted = True
                    await self._play_text(phrases.STILL_THERE)
                    record.answer = phrases.STILL_THERE
            finally:
                await self._store("add_turn", self.call_id, record)

    async def _cancel_turn(self) -> None:
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task], timeout=2.0)

    async def _close(self) -> None:
        if self._closed.is_set():
            return
        self.state = CallState.CLOSED
        self._drop_speculation()
        current = asyncio.current_task()
        for task in (self._task, self._watchdog):
            if task is not None and task is not current and not task.done():
                task.cancel()
        if self.transferred:
            self.outcome = "transferred"
        elif any(t.outcome == "answered" for t in self.turns):
            self.outcome = "answered"
        else:
            self.outcome = "abandoned"
        await self._store("finish_call", self.call_id, self.outcome, barge_ins=self.barge_ins)
        self._closed.set()

    async def _store(self, method: str, *args: Any, **kwargs: Any) -> None:
        store = self.services.store
        if store is None:
            return
        try:
            await asyncio.to_thread(getattr(store, method), *args, **kwargs)
        except Exception:  # noqa: BLE001 - a record failure never ends a call
            log.exception("call %s: could not record (%s)", self.call_id, method)


def _to_stt(pcm8k: np.ndarray) -> np.ndarray:
    return resample(pcm8k, SAMPLE_RATE, STT_RATE)
