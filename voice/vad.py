"""Voice activity detection and endpointing for phone turn-taking (webrtcvad, 8 kHz, 20 ms frames).

:class:`Endpointer` takes one 20 ms frame of 8 kHz ``int16`` PCM at a time and reports:

* ``SPEECH_START`` after ``start_ms`` of mostly voiced frames (a cough or a click does not start a turn);
* ``PAUSE`` at the first unvoiced frames after speech (the call core starts a speculative
  transcription here, so the text is often ready when the turn ends);
* ``RESUME`` when speech comes back before the end of the turn (the speculation is dropped);
* ``SPEECH_END`` after ``end_ms`` (default 600 ms) of silence: the turn is over; ``utterance()``
  holds the speech with ~200 ms of pre-roll and the trailing pause trimmed.

Silence, line noise and hum never produce ``SPEECH_START``, so no text reaches Whisper (which
hallucinates on silence).
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass

import numpy as np
import webrtcvad

from voice.audio.g711 import FRAME_MS, SAMPLE_RATE

FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000


class VadEvent(enum.Enum):
    SPEECH_START = "speech_start"
    PAUSE = "pause"
    RESUME = "resume"
    SPEECH_END = "speech_end"


@dataclass
class EndpointOptions:
    """Endpointing parameters (milliseconds), tuned for 8 kHz phone audio."""

    aggressiveness: int = 2
    start_ms: int = 120  # voiced audio needed to open a turn
    end_ms: int = 600  # silence that closes it
    pause_ms: int = 100  # silence before a speculative transcription starts
    preroll_ms: int = 200
    max_utterance_ms: int = 20000
    min_energy: float = 120.0  # RMS below this is silence whatever webrtcvad says (line hiss)


class Endpointer:
    """Feeds frames through webrtcvad and turns them into turn events; one per call."""

    def __init__(self, options: EndpointOptions | None = None):
        self.options = options or EndpointOptions()
        self._vad = webrtcvad.Vad(self.options.aggressiveness)
        self._preroll: collections.deque[np.ndarray] = collections.deque(
            maxlen=max(1, self.options.preroll_ms // FRAME_MS))
        self._window: collections.deque[bool] = collections.deque(maxlen=max(1, self.options.start_ms // FRAME_MS))
        self.reset()

    def reset(self) -> None:
        self.in_speech = False
        self.last_voiced = False
        self._frames: list[np.ndarray] = []
        self.voiced_tail = 0  # frames up to and including the last voiced one
        self._silent = 0
        self._paused = False
        self._preroll.clear()
        self._window.clear()

    def is_voiced(self, frame: np.ndarray) -> bool:
        frame = np.asarray(frame, dtype=np.int16)
        if frame.size != FRAME_SAMPLES:
            raise ValueError(f"a frame is {FRAME_SAMPLES} samples (20 ms at 8 kHz), not {frame.size}")
        if float(np.sqrt(np.mean(frame.astype(np.float32) ** 2))) < self.options.min_energy:
            return False
        return self._vad.is_speech(frame.tobytes(), SAMPLE_RATE)

    def feed(self, frame: np.ndarray) -> VadEvent | None:
        """One 20 ms frame in, at most one event out."""
        voiced = self.last_voiced = self.is_voiced(frame)
        o = self.options
        if not self.in_speech:
            self._preroll.append(frame)
            self._window.append(voiced)
            if len(self._window) == self._window.maxlen and sum(self._window) >= 0.8 * len(self._window):
                self.in_speech = True
                self._frames = list(self._preroll)
                self.voiced_tail = len(self._frames)
                self._silent = 0
                self._paused = False
                return VadEvent.SPEECH_START
            return None
        self._frames.append(frame)
        if voiced:
            self.voiced_tail = len(self._frames)
            self._silent = 0
            if self._paused:
                self._paused = False
                return VadEvent.RESUME
        else:
            self._silent += 1
        if len(self._frames) * FRAME_MS >= o.max_utterance_ms or self._silent * FRAME_MS >= o.end_ms:
            # a cut long turn too: the next turn needs start_ms of new speech, not the old window
            self.in_speech = False
            self._window.clear()
            self._preroll.clear()
            return VadEvent.SPEECH_END
        if not self._paused and self._silent * FRAME_MS >= o.pause_ms:
            self._paused = True
            return VadEvent.PAUSE
        return None

    def utterance(self) -> np.ndarray:
        """The current (or just ended) turn's speech, trailing silence trimmed, plus 100 ms."""
        keep = min(len(self._frames), self.voiced_tail + 5)
        if keep == 0:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._frames[:keep]).astype(np.int16)

    @property
    def speech_ms(self) -> int:
        return len(self._frames) * FRAME_MS
