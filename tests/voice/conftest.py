"""Voice fixtures: one real Whisper base model and one real uvicorn server (127.0.0.1) per test session.

The server runs the whole app (``create_app``) with the shared engine, a fake Twilio REST API on
loopback (for transfers) and Twilio settings of the tests; calls are made with
:mod:`voice.call_sim`, i.e. through the real webhook and Media Streams protocol.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from assistant.config import Settings, get_settings

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
CALLS_TOKEN = "test-calls-token"
PUBLIC_URL = "https://hotline.example.test"
TRANSFER_TARGET = "+842400000113"
ACCOUNT_SID = "AC" + "1" * 32


@pytest.fixture(scope="session")
def whisper():
    from voice.stt import WhisperSTT
    from voice.whisper_model import provision_whisper_base

    provision_whisper_base(get_settings().models_path)
    return WhisperSTT(get_settings())


@pytest.fixture(scope="session")
def speech_dir():
    folder = get_settings().shared_dir / "eval" / "speech"
    if not any(folder.glob("vi_natural_*.wav")):
        pytest.fail(f"no recordings in {folder} (ASSISTANT_SHARED_DIR): the speech tests need them")
    return folder


class FakeTwilioAPI:
    """Twilio's REST API, as much as a call update needs; records what it was asked."""

    def __init__(self):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                outer.requests.append({"path": self.path, "form": {k: v[0] for k, v in parse_qs(body).items()},
                                       "auth": self.headers.get("Authorization")})
                sid = self.path.rsplit("/", 1)[-1].removesuffix(".json")
                payload = json.dumps({"sid": sid, "status": "in-progress", "account_sid": ACCOUNT_SID}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="session")
def fake_twilio():
    api = FakeTwilioAPI()
    yield api
    api.close()


def voice_settings(tmp_dir, fake_url: str, **overrides) -> Settings:
    values = dict(database_url=f"sqlite:///{tmp_dir / 'voice.db'}", public_url=PUBLIC_URL,
                  twilio_auth_token=AUTH_TOKEN, twilio_account_sid=ACCOUNT_SID, twilio_api_base_url=fake_url,
                  transfer_target=TRANSFER_TARGET, calls_token=CALLS_TOKEN, rate_limit_per_minute=0,
                  silence_timeout_s=30.0)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def voice_server(engine, whisper, fake_twilio, tmp_path_factory):
    from assistant.api.main import create_app
    from voice.call.services import VoiceServices
    from voice.runtime import voice_runtime

    from voice.local_server import LocalServer

    settings = voice_settings(tmp_path_factory.mktemp("voice"), fake_twilio.url)
    app = create_app(settings, engine=engine, load_in_background=False)
    server = LocalServer(app)
    runtime = voice_runtime(app)
    runtime.use(VoiceServices.load(settings, lambda: app.state.assistant.dialogue, runtime.store(), stt=whisper))
    server.settings = settings
    yield server
    server.stop()


@pytest.fixture(scope="session")
def speech_frames():
    """A spoken question (espeak-ng) as 20 ms μ-law frames, with silence before and after."""
    import numpy as np

    from voice.audio import mulaw_encode
    from voice.audio.g711 import FRAME_BYTES
    from voice.tts import render_pcm

    pcm = render_pcm("Xin chào, tôi muốn hỏi về thủ tục làm căn cước cho con.", Settings(), 8000)
    pcm = np.concatenate([np.zeros(1600, np.int16), pcm, np.zeros(8000, np.int16)])
    pcm = np.pad(pcm, (0, -len(pcm) % 160))
    ulaw = mulaw_encode(pcm)
    return [ulaw[i:i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]


@pytest.fixture
def make_call(engine, tmp_path):
    """``make(echo_marks=True, send_s=0.0, transport=None, **settings)`` → (session, transport, stt, store):
    a call with the real dialogue, audio cache and call store, a scripted recogniser and a fake transport."""
    from assistant.dialogue import RetrievalDialogue
    from assistant.dialogue.rasa_client import DialogueSelector
    from assistant.store.call_store import CallStore
    from voice.call import CallSession, VoiceServices
    from voice.prerender import AudioCache
    from voice.stt import STTWorker
    from voice.vad import EndpointOptions
    from voice_call_helpers import FakeTransport, ScriptedSTT

    store = CallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    store.migrate()
    workers = []

    def make(echo_marks=True, send_s=0.0, transport=None, audio=None, **overrides):
        settings = Settings(transfer_target="+842400000113", **overrides)
        stt = ScriptedSTT()
        workers.append(STTWorker(stt))
        services = VoiceServices(settings, workers[-1], audio or AudioCache(settings),
                                 lambda: DialogueSelector(RetrievalDialogue(engine)), store, EndpointOptions())
        transport = transport or FakeTransport(echo_marks, send_s)
        session = CallSession(services, transport, call_id=f"t-{time.monotonic_ns()}", channel="test",
                              caller="0912345678")
        transport.session = session
        return session, transport, stt, store

    yield make
    for worker in workers:
        worker.close()
    store.dispose()
