"""``assistant sip``: the SIP agent as a process of its own, with the call core and the dialogue.

Loads what the app loads for a voice turn (knowledge engine, dialogue — Rasa when ``ASSISTANT_RASA_URL``
is set, retrieval otherwise —, Whisper, the prompt audio), starts the agent, prints one ``ready`` line
and runs until SIGINT/SIGTERM. Each ended call is logged as ``call summary {json}``.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal
import sys
import time
from typing import Any

from voice.sip.options import SipOptions

log = logging.getLogger("voice.sip")


def build_services(settings: Any) -> Any:
    """Engine, dialogue, call store and voice services, as the app builds them for Twilio calls."""
    from assistant.dialogue import RetrievalDialogue
    from assistant.dialogue.rasa_client import DialogueSelector, RasaDialogue
    from assistant.qa.engine import QAEngine
    from voice.call import VoiceServices

    started = time.perf_counter()
    engine = QAEngine.load(settings)
    rasa = (RasaDialogue(settings.rasa_url, token=settings.rasa_token, timeout=settings.rasa_timeout_s)
            if settings.rasa_url else None)
    dialogue = DialogueSelector(RetrievalDialogue(engine), rasa)
    store = _call_store(settings)
    services = VoiceServices.load(settings, lambda: dialogue, store=store)
    log.info("voice services ready in %.1f s", time.perf_counter() - started)
    return services


def _call_store(settings: Any) -> Any:
    from assistant.store.call_store import CallStore

    try:
        store = CallStore(settings.db_url)
        store.migrate()  # the same database and migrations as the app
        return store
    except Exception:  # noqa: BLE001 - calls are still answered without records
        log.exception("call store unavailable; calls will not be recorded")
        return None


def voice_settings(settings: Any) -> Any:
    """Settings for the core: a SIP transfer URI also enables the core's "talk to an officer"."""
    if settings.sip_transfer_uri and not settings.transfer_target:
        return settings.model_copy(update={"transfer_target": settings.sip_transfer_uri})
    return settings


async def serve(options: SipOptions, settings: Any, *, services: Any = None) -> int:
    from voice.sip.agent import SipAgent
    from voice.sip.core import CoreHandler

    settings = voice_settings(settings)
    if services is None:
        services = await asyncio.to_thread(build_services, settings)
    agent = SipAgent(options, lambda sip: CoreHandler(services, sip, options.transfer_uri))
    try:
        agent.start()
    except RuntimeError as exc:
        print(f"assistant sip: {exc}", file=sys.stderr, flush=True)
        services.close()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready: SIP on {options.host}:{options.port} (UDP, TCP)", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping: %s", agent.stats)
        await asyncio.to_thread(agent.stop)
        services.close()
        if services.store is not None:
            services.store.dispose()
    return 0


def run(options: SipOptions, settings: Any) -> int:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: every thread's stack on stderr
    logging.basicConfig(level=getattr(logging, str(settings.log_level).upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from assistant.privacy import MaskingFilter

        for handler in logging.getLogger().handlers:
            handler.addFilter(MaskingFilter())
    except ImportError:
        pass
    return asyncio.run(serve(options, settings))
