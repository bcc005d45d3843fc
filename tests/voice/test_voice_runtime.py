"""The app's voice runtime: loading Whisper once, beside the engine, whatever the waiting calls do."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from assistant.config import Settings
from voice.runtime import VoiceRuntime

pytestmark = pytest.mark.integration


def test_a_wait_that_times_out_does_not_cancel_the_load(whisper, tmp_path):
    """A call that gives up waiting (the app still loading) must not break the load for later calls."""
    state = SimpleNamespace(settings=Settings(database_url=f"sqlite:///{tmp_path / 'calls.db'}"),
                            loaded=threading.Event(), dialogue=None)
    runtime = VoiceRuntime(state)

    async def run():
        with pytest.raises(TimeoutError):
            await runtime.services(timeout=0.2)  # the engine has not finished loading
        future = runtime.start_loading()  # raised CancelledError for ever before the fix
        assert not future.cancelled() and not future.done()
        state.loaded.set()
        services = await runtime.services(timeout=300)
        assert runtime.start_loading() is future  # the same load, not a second Whisper
        return services

    services = asyncio.run(run())
    try:
        transcript = services.stt.submit(np.zeros(16000 * 2, np.int16)).result(timeout=120)
        assert transcript.text == ""  # the loaded model decodes (and says nothing on silence)
    finally:
        services.close()
