"""Audio between PJSIP's conference bridge and the call core: 20 ms frames, 8 kHz mono.

PJSIP decodes PCMU/PCMA to 16-bit PCM before the bridge; the call core speaks μ-law 8 kHz at its transport
edge, so :class:`BridgePort` converts both ways (G.711 is exact, so nothing is lost). The bridge's clock
(PJSIP's null sound device, a thread of its own) pulls and pushes one frame every 20 ms per call;
:class:`OutBuffer` is the lock-protected queue between that clock and the asyncio loop of the core.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import pjsua2 as pj
from pjsua2 import _pjsua2

from voice.audio import FRAME_BYTES, mulaw_decode, mulaw_encode
from voice.vad import Endpointer

SILENCE_ULAW = b"\xff" * FRAME_BYTES
PCM_FRAME_BYTES = FRAME_BYTES * 2


def items(vector) -> list:
    """The elements of a pjsua2 vector, by index.

    Never iterate a pjsua2 vector with ``for``: SWIG modules share one iterator type, and in a process
    that also loaded faiss (the knowledge engine) ``iter()`` hands back faiss's iterator class, which
    crashes the process (measured: segmentation fault in ``onCallMediaState``).
    """
    return [vector[i] for i in range(len(vector))]


def vector_bytes(vector: pj.ByteVector) -> bytes:
    """A ``ByteVector`` as bytes, through pjsua2's own iterator functions (see :func:`items`); ~0.3 ms/frame."""
    it = _pjsua2.ByteVector_iterator(vector)
    nxt = _pjsua2.SwigPyIterator___next__
    return bytes([nxt(it) for _ in range(_pjsua2.ByteVector_size(vector))])


class OutBuffer:
    """Audio the core sent and the caller has not heard yet, with playback marks.

    ``push``/``mark``/``clear`` come from the core's loop, ``pop`` from the media clock. A mark fires
    (``on_mark(name)``, called from the clock thread) when every byte pushed before it has been played,
    or at once on ``clear`` (as Twilio echoes pending marks on ``clear``).
    """

    def __init__(self, on_mark: Callable[[str], None] | None = None):
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._written = 0
        self._played = 0
        self._marks: deque[tuple[int, str]] = deque()
        self.on_mark = on_mark
        #: called (clock thread) with the time of the first frame of audio after silence
        self.on_first_audio: Callable[[], None] | None = None
        self._idle = True
        #: 20 ms frames of queued audio played so far
        self.frames_played = 0

    def push(self, ulaw: bytes) -> None:
        if not ulaw:
            return
        with self._lock:
            self._buf += ulaw
            self._written += len(ulaw)

    def mark(self, name: str) -> None:
        with self._lock:
            self._marks.append((self._written, name))
        self._fire(self._due())  # nothing queued before it: reached now

    def clear(self) -> None:
        with self._lock:
            self._buf.clear()
            self._played = self._written
        self._fire(self._due())

    @property
    def pending_ms(self) -> int:
        with self._lock:
            return len(self._buf) // 8

    def _due(self) -> list[str]:
        with self._lock:
            names = []
            while self._marks and self._marks[0][0] <= self._played:
                names.append(self._marks.popleft()[1])
            return names

    def _fire(self, names: list[str]) -> None:
        if self.on_mark is not None:
            for name in names:
                self.on_mark(name)

    def pop(self) -> bytes | None:
        """The next 20 ms (padded with silence), or None when nothing is queued."""
        with self._lock:
            if not self._buf:
                self._idle = True
                return None
            chunk = bytes(self._buf[:FRAME_BYTES])
            del self._buf[:FRAME_BYTES]
            self._played += len(chunk)
            self.frames_played += 1
            first, self._idle = self._idle, False
        if first and self.on_first_audio is not None:
            self.on_first_audio()
        self._fire(self._due())
        if len(chunk) < FRAME_BYTES:
            chunk += SILENCE_ULAW[len(chunk):]
        return chunk


class LatencyMeter:
    """Answer latency of one call, as the Twilio benchmark counts it (``voice.call_sim``): from the caller's
    last frame with speech (webrtcvad, :meth:`voice.vad.Endpointer.is_voiced`) to the first frame of the
    answer after it. Here both ends are seen inside the agent: the caller frame as it leaves PJSIP's jitter
    buffer for the bridge port, the answer frame as the bridge port hands it to PJSIP's encoder (it leaves
    as RTP in the same 20 ms tick). Both methods run on the media clock thread; the object holds no
    reference to the call."""

    def __init__(self) -> None:
        self._vad = Endpointer()
        self.last_speech_at: float | None = None
        self.last_tx_start_at = 0.0
        self.latencies_ms: list[float] = []

    def heard(self, pcm: np.ndarray) -> None:
        if self._vad.is_voiced(pcm):
            self.last_speech_at = time.monotonic()

    def first_audio(self) -> None:
        """Audio starts after silence: if the caller spoke since the last answer, that is a turn's latency."""
        now = time.monotonic()
        if self.last_speech_at is not None and self.last_speech_at > self.last_tx_start_at:
            self.latencies_ms.append((now - self.last_speech_at) * 1000)
        self.last_tx_start_at = now


class BridgePort(pj.AudioMediaPort):
    """A conference-bridge port: caller audio in (``on_audio(ulaw_20ms, pcm_20ms)``), ``out`` played to the caller.

    ``on_audio`` must not hold the ``pj.Call`` (this port may be the last thing to drop it, off the PJSIP
    thread): the agent gives it the call's route and meter only."""

    def __init__(self, out: OutBuffer, on_audio: Callable[[bytes, np.ndarray], None]):
        super().__init__()
        self.out = out
        self.on_audio = on_audio
        self._silence = pj.ByteVector(bytes(PCM_FRAME_BYTES))

    def create(self, name: str) -> None:
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.clockRate = 8000
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = 20000
        fmt.avgBps = fmt.maxBps = 128000
        self.createPort(name, fmt)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # media clock thread
        try:
            ulaw = self.out.pop()
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            frame.buf = self._silence if ulaw is None else pj.ByteVector(mulaw_decode(ulaw).tobytes())
            frame.size = PCM_FRAME_BYTES
        except Exception:  # never let an exception cross into C
            frame.size = 0

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # media clock thread
        try:
            if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or frame.size < PCM_FRAME_BYTES:
                return
            pcm = np.frombuffer(vector_bytes(frame.buf), dtype=np.int16)
            self.on_audio(mulaw_encode(pcm), pcm)
        except Exception:
            pass
