"""Rasa client and fallback against a local fake Rasa (a real HTTP server on loopback)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assistant.dialogue.manager import RetrievalDialogue
from assistant.dialogue.rasa_client import DialogueSelector, RasaDialogue, answer_from_messages, feedback_from_messages
from assistant.errors import UpstreamError

PAYLOAD = {"reply": "Trả lời", "spoken": "Trả lời nói", "topic": "can_cuoc", "abstained": False,
           "reason": "answered", "entry_id": "can_cuoc_cap_lai_mat_hu_hong", "confidence": 0.9,
           "citations": [{"document": "26/2023/QH15", "article": "Điều 24"}], "suggestions": ["a"], "handoff": False}


class FakeRasa(BaseHTTPRequestHandler):
    mode = "ok"  # ok | slow | error

    def log_message(self, *args):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200 if FakeRasa.mode != "error" else 500, {"model_file": "current.tar.gz"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if FakeRasa.mode == "slow":
            time.sleep(1.5)
        if FakeRasa.mode == "error":
            return self._send(500, {"error": "boom"})
        self._send(200, [{"recipient_id": body["sender"], "text": "Trả lời"},
                         {"recipient_id": body["sender"], "custom": PAYLOAD}])


@pytest.fixture
def fake_rasa():
    FakeRasa.mode = "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRasa)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_payload_travels_unchanged():
    answer, handoff = answer_from_messages("q", [{"text": "x"}, {"custom": PAYLOAD}])
    assert answer.topic == "can_cuoc" and answer.entry_id == PAYLOAD["entry_id"] and not handoff
    assert [(c.document, c.article) for c in answer.citations] == [("26/2023/QH15", "Điều 24")]
    assert answer.spoken_answer == "Trả lời nói" and answer.suggestions == ["a"]


def test_text_only_messages_are_joined():
    answer, handoff = answer_from_messages("hi", [{"text": "Xin chào!"}, {"text": "Mình giúp gì được?"}])
    assert answer.abstained and answer.reason == "dialogue" and "Mình giúp" in answer.answer


def test_feedback_travels_only_when_well_formed():
    good = {**PAYLOAD, "reason": "feedback", "feedback": {"rating": -1, "comment": "sai phí"}}
    assert feedback_from_messages([{"text": "x"}, {"custom": good}]) == {"rating": -1, "comment": "sai phí"}
    assert feedback_from_messages([{"custom": PAYLOAD}]) is None
    for bad in ({"rating": 5}, {"rating": True}, "sai", {"comment": "x"}):
        assert feedback_from_messages([{"custom": {**PAYLOAD, "feedback": bad}}]) is None


def test_empty_reply_is_an_upstream_error():
    with pytest.raises(UpstreamError):
        answer_from_messages("q", [])


@pytest.mark.integration
def test_fallback_and_recovery(engine, fake_rasa):
    selector = DialogueSelector(RetrievalDialogue(engine), RasaDialogue(fake_rasa, timeout=0.5), probe_every=0.2,
                                cooldown=1.0)
    try:
        assert selector.name == "rasa"
        turn = selector.respond("mất căn cước", {}, "s1")
        assert turn.answer.entry_id == PAYLOAD["entry_id"]
        FakeRasa.mode = "slow"  # slower than the timeout → this turn is answered by retrieval
        turn = selector.respond("làm hộ chiếu ở đâu", {}, "s1")
        assert turn.answer.topic == "xuat_nhap_canh" and selector.name == "retrieval"
        FakeRasa.mode = "error"
        time.sleep(0.5)
        assert selector.name == "retrieval"
        FakeRasa.mode = "ok"
        deadline = time.monotonic() + 5
        while selector.name != "rasa" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert selector.name == "rasa"
    finally:
        selector.close()


def test_without_rasa_the_backend_is_retrieval(engine):
    selector = DialogueSelector(RetrievalDialogue(engine))
    assert selector.name == "retrieval"
    assert selector.respond("lam cccd o dau").answer.topic == "can_cuoc"
