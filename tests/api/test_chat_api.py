"""The chat API contract with the real engine and a real SQLite database."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from assistant.api.main import create_app
from assistant.config import Settings

pytestmark = pytest.mark.integration


def make_client(engine, tmp_path, **overrides) -> TestClient:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'chat.db'}", **overrides)
    return TestClient(create_app(settings, engine=engine, load_in_background=False))


@pytest.fixture
def client(engine, tmp_path):
    with make_client(engine, tmp_path, rate_limit_per_minute=0) as c:
        yield c


def chat(client, message, session_id=None):
    r = client.post("/api/v1/chat", json={"session_id": session_id, "message": message})
    assert r.status_code == 200, r.text
    return r.json()


def test_chat_contract_and_session(client):
    a = chat(client, "Đăng ký tạm trú khi thuê trọ cần giấy tờ gì?")
    assert set(a) == {"session_id", "message_id", "reply", "citations", "topic", "abstained", "handoff", "suggestions"}
    assert a["topic"] == "cu_tru" and not a["abstained"] and not a["handoff"]
    assert {"document": "68/2020/QH14", "article": "Điều 27", "title": "Luật Cư trú"} in a["citations"]
    b = chat(client, "lệ phí bao nhiêu", a["session_id"])
    assert b["session_id"] == a["session_id"]
    s = client.get(f"/api/v1/sessions/{a['session_id']}").json()
    assert [m["role"] for m in s["messages"]] == ["user", "assistant", "user", "assistant"]
    assert s["messages"][1]["message_id"] == a["message_id"]
    assert s["messages"][1]["citations"] == a["citations"]


def test_unknown_session_starts_a_new_one(client):
    a = chat(client, "làm căn cước ở đâu", "does-not-exist")
    assert a["session_id"] != "does-not-exist"
    assert client.get("/api/v1/sessions/does-not-exist").status_code == 404


def test_feedback(client):
    a = chat(client, "Làm hộ chiếu ở đâu?")
    r = client.post("/api/v1/feedback", json={"message_id": a["message_id"], "rating": 1})
    assert r.status_code == 201 and r.json()["message_id"] == a["message_id"]
    r = client.post("/api/v1/feedback", json={"message_id": a["message_id"], "rating": -1, "comment": "thiếu phí"})
    assert r.status_code == 201
    assert client.post("/api/v1/feedback", json={"message_id": "nope", "rating": 1}).status_code == 404
    bad = client.post("/api/v1/feedback", json={"message_id": a["message_id"], "rating": 5})
    assert bad.status_code == 422 and "Đánh giá" in bad.json()["detail"]
    metrics = client.get("/metrics").text
    assert 'assistant_feedback_total{rating="up"} 1.0' in metrics
    assert 'assistant_feedback_total{rating="down"} 1.0' in metrics


def test_follow_up_uses_the_previous_question(client, engine):
    a = chat(client, "Đăng ký thường trú cần giấy tờ gì?")
    b = chat(client, "còn tạm trú thì sao?", a["session_id"])
    assert b["topic"] == "cu_tru" and not b["abstained"]
    assert any(c["article"] in ("Điều 27", "Điều 28") for c in b["citations"])
    c1 = chat(client, "Làm thẻ căn cước ở đâu?")
    c2 = chat(client, "thế còn cho con tôi 5 tuổi?", c1["session_id"])
    assert c2["topic"] == "can_cuoc" and not c2["abstained"]
    stored = client.app.state.assistant.store.get_session(c1["session_id"]).messages[-1]
    assert "tre_em" in stored.entry_id


def test_handoff_marks_the_session(client):
    a = chat(client, "cho tôi gặp cán bộ")
    assert a["handoff"] and a["abstained"]
    b = chat(client, "lam cccd o dau", a["session_id"])
    assert b["handoff"] and not b["abstained"]
    assert client.get(f"/api/v1/sessions/{a['session_id']}").json()["handoff"] is True


def test_limits_and_bad_input(client):
    too_long = client.post("/api/v1/chat", json={"session_id": None, "message": "a" * 2001})
    assert too_long.status_code == 422 and "dài quá 2000 ký tự" in too_long.json()["detail"]
    bad_json = client.post("/api/v1/chat", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 422 and "JSON" in bad_json.json()["detail"]
    missing = client.post("/api/v1/chat", json={"session_id": None})
    assert missing.status_code == 422 and "message" in missing.json()["detail"]
    wrong_type = client.post("/api/v1/chat", json={"message": 42})
    assert wrong_type.status_code == 422
    empty = client.post("/api/v1/chat", json={"message": "   "})
    assert empty.status_code == 422
    emoji = chat(client, "😀😀😀")
    assert emoji["abstained"] and emoji["reply"]


def test_rate_limit(engine, tmp_path):
    with make_client(engine, tmp_path, rate_limit_per_minute=3) as c:
        codes = [c.post("/api/v1/chat", json={"message": "xin chào"}).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = c.post("/api/v1/chat", json={"message": "xin chào"})
        assert "thử lại" in r.json()["detail"] and int(r.headers["Retry-After"]) >= 1
        assert c.get("/healthz").status_code == 200  # reads are not limited


def test_persistence_across_restart(engine, tmp_path):
    with make_client(engine, tmp_path) as c:
        a = chat(c, "Xin phiếu lý lịch tư pháp ở đâu?")
        c.post("/api/v1/feedback", json={"message_id": a["message_id"], "rating": -1, "comment": "chưa rõ"})
    with make_client(engine, tmp_path) as c:
        s = c.get(f"/api/v1/sessions/{a['session_id']}").json()
        assert len(s["messages"]) == 2 and s["messages"][1]["message_id"] == a["message_id"]
        assert c.app.state.assistant.store.recent_feedback()[0].comment == "chưa rõ"


def test_personal_numbers_are_masked_in_storage_and_logs(client, caplog):
    caplog.set_level(logging.INFO, logger="assistant")
    a = chat(client, "CCCD của tôi số 001203004567, sđt 0912345678, bị mất thì làm lại thế nào?")
    s = client.get(f"/api/v1/sessions/{a['session_id']}").json()
    assert "001203004567" not in s["messages"][0]["text"] and "0912345678" not in s["messages"][0]["text"]
    assert "001203004567" not in caplog.text and "0912345678" not in caplog.text
    assert a["topic"] == "can_cuoc"


def test_health_ready_metrics_docs(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["dialogue_backend"] == "retrieval" and body["index_version"] and body["database"] == "ok"
    chat(client, "thời tiết hôm nay thế nào")
    m = client.get("/metrics").text
    assert "assistant_http_request_seconds_bucket" in m and "assistant_declined_answers_total" in m
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/api/v1/chat", "/api/v1/feedback"}
    assert client.get("/docs").status_code == 200


def test_readyz_is_503_until_loaded(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    app = create_app(settings)
    with TestClient(app) as c:  # lifespan starts background loading; before it ends, not ready
        state = app.state.assistant
        if not state.loaded.is_set():
            assert c.get("/readyz").status_code == 503
            assert c.post("/api/v1/chat", json={"message": "xin chào"}).status_code == 503
        state.loaded.wait(300)
        assert c.get("/readyz").status_code == 200


def test_cors_is_configurable(engine, tmp_path):
    with make_client(engine, tmp_path, cors_origins=["https://app.example.vn"]) as c:
        ok = c.options("/api/v1/chat", headers={"Origin": "https://app.example.vn",
                                                "Access-Control-Request-Method": "POST"})
        assert ok.headers.get("access-control-allow-origin") == "https://app.example.vn"
        other = c.options("/api/v1/chat", headers={"Origin": "https://evil.example",
                                                   "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers


def test_concurrent_chats(client):
    questions = ["lam cccd o dau", "đăng ký tạm trú", "mất hộ chiếu", "đổi bằng lái", "sang tên xe", "lý lịch tư pháp"] * 3
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda q: client.post("/api/v1/chat", json={"message": q}), questions))
    assert all(r.status_code == 200 for r in results)
    assert len({r.json()["session_id"] for r in results}) == len(questions)


def test_feedback_from_the_dialogue_is_recorded_on_the_previous_answer(client):
    """A dialogue turn carrying feedback (Rasa's action_feedback) becomes a rating of the last answer."""
    from assistant.dialogue.manager import TurnResult
    from assistant.qa.schemas import Answer

    real = client.app.state.assistant.dialogue
    answer = chat(client, "Làm hộ chiếu ở đâu?")

    class FeedbackDialogue:
        name = "rasa"

        def respond(self, message, context=None, session_id="x"):
            reply = "Cảm ơn bạn đã góp ý."
            return TurnResult(Answer(question=message, abstained=True, topic=None, answer=reply, spoken_answer=reply,
                                     citations=[], results=[], confidence=1.0, reason="feedback"), False,
                              dict(context or {}), feedback={"rating": -1, "comment": "thiếu lệ phí, gọi 0912345678"})

    client.app.state.assistant.dialogue = FeedbackDialogue()
    try:
        first = chat(client, "sai rồi, thiếu lệ phí", answer["session_id"])
        chat(client, "vẫn thiếu", answer["session_id"])
    finally:
        client.app.state.assistant.dialogue = real
    store = client.app.state.assistant.store
    got = [f for f in store.recent_feedback(10) if f.message_id == answer["message_id"]]
    assert [f.rating for f in got] == [-1, -1] and all("0912345678" not in f.comment for f in got)
    assert not [f for f in store.recent_feedback(10) if f.message_id == first["message_id"]]
    assert 'assistant_feedback_total{rating="down"} 2.0' in client.get("/metrics").text
    # feedback with no answer before it is kept on the reply itself rather than lost
    client.app.state.assistant.dialogue = FeedbackDialogue()
    try:
        lone = chat(client, "góp ý chung")
    finally:
        client.app.state.assistant.dialogue = real
    assert [f.message_id for f in store.recent_feedback(10) if f.message_id == lone["message_id"]]
