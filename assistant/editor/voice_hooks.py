"""The spoken side of publishing, through the voice package when it is installed.

``voice.tts.render_wav(text, settings) -> bytes`` renders a preview; ``voice.prerender.prerender_answers(
corpus, settings)`` renders the spoken answers of a newly published corpus. Both are looked up lazily
so the editor works (and says so) without them.
"""

from __future__ import annotations

import importlib
import logging
import threading

log = logging.getLogger("assistant.editor.voice")


class VoiceUnavailable(RuntimeError):
    """The voice package (or the function) is not there."""


def _function(module: str, name: str):
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise VoiceUnavailable(f"{module} chưa có: {exc}") from None
    fn = getattr(mod, name, None)
    if fn is None:
        raise VoiceUnavailable(f"{module}.{name} chưa có")
    return fn


def render_preview_wav(text: str, settings) -> bytes:
    """WAV bytes of ``text`` spoken with the configured voice (raises :class:`VoiceUnavailable`)."""
    return _function("voice.tts", "render_wav")(text, settings)


def prerender_published(corpus, settings) -> str:
    """Pre-render the spoken answers of ``corpus`` (after a publish's index build); never raises."""
    try:
        fn = _function("voice.prerender", "prerender_answers")
    except VoiceUnavailable as exc:
        log.info("spoken answers not pre-rendered: %s", exc)
        return "skipped"
    try:
        fn(corpus, settings)
    except Exception:  # noqa: BLE001 - audio is an optimisation; the publish stands
        log.exception("pre-rendering spoken answers failed")
        return "failed"
    return "done"


def prerender_in_background(corpus, settings) -> threading.Thread:
    thread = threading.Thread(target=prerender_published, args=(corpus, settings), name="prerender", daemon=True)
    thread.start()
    return thread
