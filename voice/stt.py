"""Speech-to-text with faster-whisper (CTranslate2), Vietnamese, decoding fully in a worker thread.

:class:`WhisperSTT` loads the model once (``stt_model``: the Whisper base assembled at set-up, any
CTranslate2 folder, or a faster-whisper name) and transcribes one utterance of 16-bit PCM.

Speed on phone turns: Whisper pads every input to a 30 s window, so the encoder costs the same for a
2 s question as for 30 s (~0.65 s for base on 2 cores, int8). With ``window="fit"`` (default) the
encoder sees the utterance padded to the next multiple of 10 s instead (~0.09 s); the decoder is
capped at a length proportional to the audio, which also stops run-away repetition. ``window="full"``
uses faster-whisper's own ``transcribe()`` (30 s windows, long audio). Both use ``language="vi"``
(auto-detection is unreliable for Vietnamese) and the domain vocabulary as initial prompt.

:class:`STTWorker` owns one thread for the model (one decode at a time on 2 cores): the call core
submits speculative transcriptions while the caller pauses and cancels stale ones.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from assistant.config import Settings
from assistant.errors import ModelLoadError
from voice.audio.resample import to_float
from voice.whisper_model import resolve_stt_model

log = logging.getLogger("assistant.voice.stt")
STT_RATE = 16000
_FRAMES_PER_SECOND = 100
_WINDOW_STEP = 1000  # mel frames (10 s)

#: Words of the domain that Whisper base mishears without a hint (initial prompt).
DOMAIN_PROMPT = ("Công an: căn cước, CCCD, VNeID, thường trú, tạm trú, giấy phép lái xe, đăng ký xe, "
                 "hộ chiếu, lý lịch tư pháp.")
#: Hallucination gate: a decode whose no-speech probability is above NO_SPEECH_GATE and whose confidence is
#: below GATE_CONFIDENCE is noise, not words. Measured (8 kHz μ-law round trip, ``fit`` window): the six
#: natural recordings clean, with band noise at 15 and 5 dB SNR and cut to 60 % (24 decodes) had
#: no_speech 0.001-0.69 (clean: at most 0.61); silence, band-limited noise and 50 Hz hum of 1-5 s
#: (42 decodes) and the noise turns webrtcvad let through (24) had no_speech 0.78-0.94 with confidences
#: 0.08-0.76 (Whisper repeats "CĐĐĐ…" up to the token cap on them): the gate sits midway, 0.73.
#: Confidence alone does not separate them (natural speech 0.34-0.74). See voice/README.md.
NO_SPEECH_GATE = 0.73
GATE_CONFIDENCE = 0.8


@dataclass
class Transcript:
    """One utterance's text, how sure the model was (0..1) and how long decoding took."""

    text: str
    confidence: float
    no_speech: float
    audio_s: float
    elapsed_s: float


class WhisperSTT:
    """faster-whisper over one shared model; ``transcribe`` is blocking (call it from a thread)."""

    def __init__(self, settings: Settings, *, window: str = "fit"):
        if window not in ("fit", "full"):
            raise ValueError("window must be 'fit' or 'full'")
        self.window = window
        self.prompt = settings.stt_prompt if settings.stt_prompt is not None else DOMAIN_PROMPT
        self.model_ref = resolve_stt_model(settings)
        try:
            from faster_whisper import WhisperModel

            self.model = WhisperModel(self.model_ref, device="cpu", compute_type=settings.stt_compute_type,
                                      cpu_threads=settings.stt_threads, num_workers=1)
        except Exception as exc:  # noqa: BLE001 - any loader failure is a model problem
            raise ModelLoadError(f"cannot load Whisper model {self.model_ref}: {exc}") from exc
        tok = self.model.hf_tokenizer
        ids = {name: tok.token_to_id(name) for name in
               ("<|startoftranscript|>", "<|vi|>", "<|transcribe|>", "<|notimestamps|>", "<|startofprev|>")}
        if None in ids.values():
            raise ModelLoadError(f"{self.model_ref} is not a multilingual Whisper model")
        self._sot = [ids["<|startoftranscript|>"], ids["<|vi|>"], ids["<|transcribe|>"], ids["<|notimestamps|>"]]
        prompt_ids = tok.encode(" " + self.prompt.strip(), add_special_tokens=False).ids if self.prompt else []
        self._prefix = ([ids["<|startofprev|>"]] + prompt_ids[-(223 - 1):]) if prompt_ids else []
        self._eot = tok.token_to_id("<|endoftext|>")

    def transcribe(self, pcm16k: np.ndarray) -> Transcript:
        """Text of one utterance (16 kHz ``int16`` PCM)."""
        return self.transcribe_batch([pcm16k])[0]

    def transcribe_batch(self, utterances: list[np.ndarray]) -> list[Transcript]:
        """Several utterances at once: one batched encoder and decoder pass (more calls per core)."""
        started = time.perf_counter()
        audios = [to_float(p) for p in utterances]
        out: list[tuple[str, float, float] | None] = [None] * len(audios)
        fit = []
        for i, audio in enumerate(audios):
            if audio.size < STT_RATE // 10:
                out[i] = ("", 0.0, 1.0)
            elif self.window == "full" or audio.size / STT_RATE > 29:
                out[i] = self._transcribe_full(audio)
            else:
                fit.append(i)
        if fit:
            for i, res in zip(fit, self._transcribe_fit([audios[i] for i in fit])):
                out[i] = res
        elapsed = time.perf_counter() - started
        return [Transcript(text, conf, no_speech, a.size / STT_RATE, elapsed)
                for (text, conf, no_speech), a in zip(out, audios)]

    def _transcribe_fit(self, audios: list[np.ndarray]) -> list[tuple[str, float, float]]:
        import ctranslate2

        feats = [self.model.feature_extractor(a) for a in audios]
        longest = max(f.shape[-1] for f in feats)
        width = min(3000, -(-(longest + 50) // _WINDOW_STEP) * _WINDOW_STEP)
        padded = np.zeros((len(feats), feats[0].shape[0], width), dtype=np.float32)
        for i, f in enumerate(feats):
            padded[i, :, : min(f.shape[-1], width)] = f[:, :width]
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(padded), to_cpu=False)
        seconds = max(a.size for a in audios) / STT_RATE
        max_tokens = len(self._prefix) + len(self._sot) + int(12 + 9 * seconds)  # the prompt counts
        results = self.model.model.generate(
            encoded, [self._prefix + self._sot] * len(feats), beam_size=1, max_length=max_tokens,
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, repetition_penalty=1.1,
        )
        out = []
        for result, audio in zip(results, audios):
            own_cap = int(12 + 9 * audio.size / STT_RATE)  # a short utterance in a long batch keeps its cap
            tokens = [t for t in result.sequences_ids[0] if t < self._eot][:own_cap]
            text = self.model.hf_tokenizer.decode(tokens).strip()
            confidence, no_speech = _confidence(result), float(result.no_speech_prob)
            out.append(("", confidence, no_speech) if no_speech > NO_SPEECH_GATE and confidence < GATE_CONFIDENCE
                       else (text, confidence, no_speech))
        return out

    def _transcribe_full(self, audio: np.ndarray) -> tuple[str, float, float]:
        segments, _ = self.model.transcribe(audio, language="vi", beam_size=1, vad_filter=False,
                                            condition_on_previous_text=False, without_timestamps=True,
                                            initial_prompt=self.prompt or None)
        segments = list(segments)  # the generator decodes lazily: consume it here, in this thread
        if not segments:
            return "", 0.0, 1.0
        text = " ".join(s.text.strip() for s in segments).strip()
        logprob = float(np.mean([s.avg_logprob for s in segments]))
        confidence = float(np.exp(min(0.0, logprob)))
        no_speech = float(np.mean([s.no_speech_prob for s in segments]))
        if no_speech > NO_SPEECH_GATE and confidence < GATE_CONFIDENCE:
            return "", confidence, no_speech
        return text, confidence, no_speech


def _confidence(result, length_penalty: float = 1.0) -> float:
    """Mean token probability of a CTranslate2 Whisper result, computed as faster-whisper does.

    ``generate`` returns the cumulative log-probability already divided by ``length ** length_penalty``
    (1 by default); faster-whisper multiplies it back and divides by the length plus the end token.
    """
    if not result.scores or not result.sequences_ids or not result.sequences_ids[0]:
        return 0.0
    seq_len = len(result.sequences_ids[0])
    avg_logprob = float(result.scores[0]) * seq_len ** length_penalty / (seq_len + 1)
    return float(np.exp(min(0.0, avg_logprob)))


class STTWorker:
    """One thread in front of the model; ``submit`` returns a Future of a :class:`Transcript`.

    On 2 cores one decode at a time is fastest (each uses both cores). Utterances that arrive while
    the model is busy are decoded together in one batch (on 2 cores a batch of four took ~15% less
    than four single decodes, and no call waits for a whole queue). ``busy`` tells whether the model
    is in use.
    """

    MAX_BATCH = 8

    def __init__(self, stt: WhisperSTT):
        self.stt = stt
        self._cond = threading.Condition()
        self._queue: list[tuple[np.ndarray, Future[Transcript]]] = []
        self._running = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="stt", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """Whether a transcription is running or waiting."""
        with self._cond:
            return self._running > 0 or bool(self._queue)

    def submit(self, pcm16k: np.ndarray) -> Future[Transcript]:
        future: Future[Transcript] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the speech recogniser is closed")
            self._queue.append((pcm16k, future))
            self._cond.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                batch = [(p, f) for p, f in self._queue[: self.MAX_BATCH] if f.set_running_or_notify_cancel()]
                del self._queue[: self.MAX_BATCH]
                self._running = len(batch)
            try:
                if batch:
                    for (_, future), result in zip(batch, self.stt.transcribe_batch([p for p, _ in batch])):
                        future.set_result(result)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting call
                log.exception("transcription failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            finally:
                with self._cond:
                    self._running = 0

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for _, future in self._queue:
                future.cancel()
            self._queue.clear()
            self._cond.notify_all()
