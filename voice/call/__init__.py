"""The call core: one transport-agnostic state machine per phone call, shared by Twilio and SIP.

A transport (Twilio Media Streams in :mod:`voice.twilio`, the SIP agent in ``voice/sip``) owns the
network side and drives a :class:`CallSession`; the session owns the conversation. Everything runs on
one asyncio event loop; a transport whose library calls back from other threads (PJSIP) hands calls
over with ``asyncio.run_coroutine_threadsafe(session.on_audio(frame), loop)``.

**What the core calls on the transport** (:class:`CallTransport`, all coroutines)::

    send_audio(ulaw: bytes)    8 kHz μ-law to play to the caller, in order (whole 20 ms frames;
                               may be seconds at once: the transport queues and paces it)
    clear_audio()              drop audio queued and not yet played (barge-in), including the rest
                               of a send_audio still in progress: nothing sent before the clear
                               may be played after it
    send_mark(name: str)       call session.on_mark(name) when the audio sent before it has played
                               (Twilio echoes marks; SIP transports track their playout queue)
    transfer(target: str) -> bool
                               hand the caller to ``target`` (+84… number or sip: URI); True when
                               accepted (the core then ends its side of the call)
    hangup()                   end the call

**What the transport calls on the core** (:class:`CallSession`)::

    await session.start()             call answered: records the call, plays the greeting
    await session.on_audio(frame)     caller audio, 20 ms of 8 kHz μ-law (160 bytes; other sizes
                                      are re-framed); returns at once, the work runs in tasks
    await session.on_dtmf(digit)      "0"-"9", "*", "#"
    await session.on_mark(name)       a mark sent with send_mark has been played
    await session.on_hangup()         the caller or the network ended the call (idempotent)
    await session.wait_closed()       until the session has finished (record written)

Build the shared, heavy parts once per process with :class:`VoiceServices` (Whisper worker,
audio cache, dialogue, call store) and one ``CallSession(services, transport, call_id=…,
channel="twilio"|"sip", caller=…)`` per call. States: greeting → listening → thinking → speaking
(→ confirming) → listening …, transferring, goodbye, closed (:class:`CallState`).
"""

from voice.call.services import VoiceServices
from voice.call.session import CallSession, CallState
from voice.call.transport import CallTransport

__all__ = ["CallSession", "CallState", "CallTransport", "VoiceServices"]
