"""The interface a telephony transport offers the call core (see :mod:`voice.call`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class CallTransport(Protocol):
    """Network side of one call. Audio is 8 kHz μ-law; every method is a coroutine."""

    async def send_audio(self, ulaw: bytes) -> None:
        """Queue ``ulaw`` for playback to the caller."""

    async def clear_audio(self) -> None:
        """Drop queued audio (barge-in), and the rest of a ``send_audio`` still in progress."""

    async def send_mark(self, name: str) -> None:
        """Report ``name`` back through ``CallSession.on_mark`` once the audio before it has played."""

    async def transfer(self, target: str) -> bool:
        """Connect the caller to ``target`` (a phone number or SIP URI); True when it worked."""

    async def hangup(self) -> None:
        """End the call."""
