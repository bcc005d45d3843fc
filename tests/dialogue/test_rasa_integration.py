"""Conversations through the chat API with a real Rasa server and the real action server.

Needs ``.venv-rasa`` and the trained model ``nlu_data/models/current.tar.gz`` (``scripts/setup-rasa.sh``,
run by ``scripts/test.sh``). Rasa and the action server run on free loopback ports; a test kills Rasa
mid-conversation and checks the fallback to retrieval, then its recovery.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.api.main import create_app
from assistant.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RASA = REPO / ".venv-rasa" / "bin" / "rasa"
MODEL = REPO / "nlu_data" / "models" / "current.tar.gz"
TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RasaStack:
    def __init__(self, tmp: Path):
        if not (RASA.exists() and MODEL.exists()):
            pytest.fail("Rasa is not set up: run scripts/setup-rasa.sh (scripts/test.sh does)")
        self.tmp = tmp
        self.actions_port = free_port()
        self.rasa_port = free_port()
        self.endpoints = tmp / "endpoints.yml"
        self.endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{self.actions_port}/webhook"\n')
        exe = Path(sys.executable).with_name("assistant")
        self.actions = subprocess.Popen([str(exe), "actions", "--host", "127.0.0.1", "--port", str(self.actions_port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.rasa: subprocess.Popen | None = None
        self.start_rasa()
        wait_http(f"http://127.0.0.1:{self.actions_port}/health")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def start_rasa(self) -> None:
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
        self.rasa = subprocess.Popen(
            [str(RASA.with_name("python")), str(REPO / "nlu_data" / "rasa_launcher.py"),  # as `assistant up` does
             "run", "--enable-api", "--auth-token", TOKEN, "-i", "127.0.0.1", "-p", str(self.rasa_port),
             "--model", str(MODEL), "--endpoints", str(self.endpoints),
             "--credentials", str(REPO / "nlu_data" / "credentials.yml")],
            cwd=REPO / "nlu_data", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # custom components
        wait_http(f"{self.url}/status?token={TOKEN}")

    def close(self) -> None:
        for p in (self.rasa, self.actions):
            if p is not None:
                stop(p)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = RasaStack(tmp_path_factory.mktemp("rasa"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(stack, engine, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "chat.db"
    settings = Settings(database_url=f"sqlite:///{db}", rate_limit_per_minute=0, rasa_url=stack.url,
                        rasa_token=TOKEN, rasa_timeout_s=10.0)
    app = create_app(settings, engine=engine, load_in_background=False)
    with TestClient(app) as c:
        c.app.state.assistant.dialogue.probe_every = 0.5
        c.app.state.assistant.dialogue.cooldown = 1.0
        yield c


def chat(client, message, session_id=None):
    r = client.post("/api/v1/chat", json={"session_id": session_id, "message": message})
    assert r.status_code == 200, r.text
    return r.json()


def backend(client) -> str:
    return client.get("/readyz").json()["dialogue_backend"]


def test_conversation_through_rasa(client):
    assert backend(client) == "rasa"
    hi = chat(client, "xin chào")
    assert hi["abstained"] and hi["reply"] and not hi["citations"]
    sid = hi["session_id"]
    clarify = chat(client, "làm căn cước", sid)
    assert clarify["abstained"] and clarify["topic"] == "can_cuoc"
    assert "cấp lại" in clarify["reply"].lower() or any("cấp lại" in s.lower() for s in clarify["suggestions"])
    answer = chat(client, "cấp lại", sid)
    assert not answer["abstained"] and answer["topic"] == "can_cuoc" and answer["citations"]
    assert all(c["document"] and c["article"] for c in answer["citations"])
    again = chat(client, "nói lại đi", sid)
    assert again["reply"]
    human = chat(client, "cho tôi gặp cán bộ", sid)
    assert human["handoff"] is True
    assert client.get(f"/api/v1/sessions/{sid}").json()["handoff"] is True


def test_feedback_typed_into_the_chat_is_recorded_on_the_answer(client):
    """ "câu trả lời này sai rồi" after an answer: thanked, and stored as a thumbs-down on that answer."""
    answer = chat(client, "Làm hộ chiếu phổ thông lần đầu cần giấy tờ gì?")
    assert not answer["abstained"]
    sid = answer["session_id"]
    thanks = chat(client, "câu trả lời này sai rồi, thiếu mẫu tờ khai", sid)
    assert thanks["abstained"] and not thanks["citations"] and thanks["reply"]
    store = client.app.state.assistant.store
    (fb,) = [f for f in store.recent_feedback(50) if f.message_id == answer["message_id"]]
    assert fb.rating == -1 and "mẫu tờ khai" in fb.comment
    praise = chat(client, "câu trả lời rất rõ ràng, cảm ơn", sid)
    assert praise["reply"] and praise["reply"] != thanks["reply"]
    ratings = sorted(f.rating for f in store.recent_feedback(50) if f.message_id == answer["message_id"])
    assert ratings == [-1, 1]


def test_procedure_question_keeps_citations(client):
    a = chat(client, "Đăng ký tạm trú cần giấy tờ gì?")
    assert not a["abstained"] and a["topic"] == "cu_tru"
    assert any(c["document"] == "68/2020/QH14" for c in a["citations"])
    oos = chat(client, "hôm nay thời tiết thế nào")
    assert oos["abstained"] and oos["topic"] is None


def test_look_alike_greetings_and_procedures_reach_the_engine(client):
    """The IntentGuard sends these to the engine, which declines, instead of a greeting or an answer."""
    greeting = chat(client, "chào bạn")["reply"]
    for text in ("chào giá căn hộ chung cư", "xin xin xin xin", "gia hạn gói cước 4G"):
        reply = chat(client, text)
        assert reply["abstained"] and not reply["citations"], text
        assert reply["reply"] != greeting, text


def test_rasa_killed_mid_conversation_falls_back_and_recovers(client, stack):
    first = chat(client, "Đăng ký thường trú cần giấy tờ gì?")
    sid = first["session_id"]
    assert backend(client) == "rasa"
    stop(stack.rasa)
    follow = chat(client, "còn tạm trú thì sao?", sid)  # answered by retrieval, using the stored context
    assert follow["topic"] == "cu_tru" and not follow["abstained"]
    assert backend(client) == "retrieval"
    stack.start_rasa()
    deadline = time.monotonic() + 30
    while backend(client) != "rasa" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert backend(client) == "rasa"
    assert chat(client, "làm hộ chiếu ở đâu", sid)["topic"] == "xuat_nhap_canh"
