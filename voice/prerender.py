"""Pre-rendered speech: every served entry's spoken answer (and every prompt) as 8 kHz μ-law on disk.

:class:`AudioCache` keeps one file per (text, voice): ``VOICE_CACHE_DIR/<sha256(voice_id NUL text)>.ulaw``
(default ``DATA_DIR/voice_cache``). A call looks answers up there first, so the first answer audio
goes out without synthesis; a miss is synthesized and stored. :func:`prerender_answers` fills the
cache for a corpus: ``assistant setup`` calls it after building the index, and the editor's publish
workflow calls it after a publish. Files are written atomically; stale ones are harmless (the key
changes with the text or the voice).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from assistant.config import Settings
from voice.tts import SynthesisError, render_ulaw, voice_id

log = logging.getLogger("assistant.voice.prerender")


def cache_dir(settings: Settings) -> Path:
    return settings.voice_cache_dir or settings.data_dir / "voice_cache"


def cache_key(text: str, voice: str) -> str:
    """sha256 of the voice id and the text (what the cache file is named after)."""
    return hashlib.sha256(f"{voice}\0{text}".encode()).hexdigest()


class AudioCache:
    """Spoken texts as 8 kHz μ-law files, keyed by text and voice."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = cache_dir(settings)
        self.voice = voice_id(settings)

    def path(self, text: str) -> Path:
        key = cache_key(text, self.voice)
        return self.root / key[:2] / f"{key}.ulaw"

    def get(self, text: str) -> bytes | None:
        try:
            return self.path(text).read_bytes()
        except OSError:
            return None

    def put(self, text: str, ulaw: bytes) -> None:
        path = self.path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(ulaw)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # no half-written files left behind (disk full, …)
            raise

    def speak(self, text: str) -> bytes:
        """Cached audio of ``text``, synthesized and stored on a miss (blocking: call from a thread)."""
        audio = self.get(text)
        if audio is None:
            audio = render_ulaw(text, self.settings)
            self.put(text, audio)
        return audio

    def ensure(self, texts: Iterable[str]) -> dict[str, int]:
        counts = {"rendered": 0, "cached": 0, "failed": 0}
        for text in dict.fromkeys(t for t in texts if t and t.strip()):
            if self.path(text).is_file():
                counts["cached"] += 1
                continue
            try:
                self.put(text, render_ulaw(text, self.settings))
                counts["rendered"] += 1
            except (SynthesisError, OSError) as exc:  # one text failing does not stop the others
                counts["failed"] += 1
                log.warning("cannot pre-render %r: %s", text[:60], exc)
        return counts


def prerender_answers(corpus, settings: Settings) -> dict[str, int]:
    """Render the spoken answer of every served entry of ``corpus`` and every call prompt.

    Returns counts: ``entries``, ``rendered`` (new files), ``cached`` (already there), ``failed``.
    Idempotent and quick on a second run (only missing files are synthesized).
    """
    from voice.call.phrases import ALL_PROMPTS

    started = time.perf_counter()
    entries = list(corpus.served_entries)
    cache = AudioCache(settings)
    counts = cache.ensure([e.spoken_answer for e in entries] + list(ALL_PROMPTS))
    counts["entries"] = len(entries)
    log.info("pre-rendered answers with %s in %.1f s: %s", cache.voice, time.perf_counter() - started, counts)
    return counts
