"""Voice fixtures: one real Whisper base model and one real uvicorn server (127.0.0.1) per test session.

The server runs the whole app (``create_app``) with the shared engine, a fake Twilio REST API on
loopback (for transfers) and Twilio settings of the tests; calls are made with
:mod:`voice.call_sim`, i.e. through the real webhook and Media Streams protocol.
"""

from __future__ import annotations

import json
import threading
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
        pytest.skip(f"no recordings in {folder}")
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
