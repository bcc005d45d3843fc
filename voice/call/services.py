"""What every call of a process shares: settings, the Whisper worker, the audio cache, the dialogue
and the call store. Built once (``VoiceServices.load``) and handed to each :class:`CallSession`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.config import Settings
from voice.prerender import AudioCache
from voice.stt import STTWorker, WhisperSTT
from voice.vad import EndpointOptions

log = logging.getLogger("assistant.voice.call")
_WARM_UP = (np.sin(np.linspace(0, 2000, 16000)) * 3000).astype(np.int16)


@dataclass
class VoiceServices:
    """Shared parts of the voice loop.

    ``dialogue`` is a callable returning the app's dialogue (``state.dialogue``: Rasa when it is up,
    retrieval otherwise; it may be ``None`` while the app loads). ``store`` is a
    :class:`~assistant.store.call_store.CallStore` or ``None`` (no records kept).
    """

    settings: Settings
    stt: STTWorker
    audio: AudioCache
    dialogue: Callable[[], Any]
    store: Any = None
    endpoint: EndpointOptions = field(default_factory=EndpointOptions)

    @classmethod
    def load(cls, settings: Settings, dialogue: Callable[[], Any], store: Any = None,
             stt: WhisperSTT | None = None) -> VoiceServices:
        """Load Whisper (blocking, ~1 s) and the synthesizer; prompts are rendered into the cache."""
        from voice.call.phrases import ALL_PROMPTS

        if stt is None:
            stt = WhisperSTT(settings)
            stt.transcribe(_WARM_UP)  # the first decode pages the model in and is slow: not on a caller
        worker = STTWorker(stt)
        audio = AudioCache(settings)
        audio.ensure(ALL_PROMPTS)
        options = EndpointOptions(aggressiveness=settings.vad_aggressiveness, end_ms=settings.endpoint_silence_ms,
                                  max_utterance_ms=int(settings.max_utterance_s * 1000))
        return cls(settings, worker, audio, dialogue, store, options)

    def close(self) -> None:
        self.stt.close()
