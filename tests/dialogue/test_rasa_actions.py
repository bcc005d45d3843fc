"""Rasa custom actions run by a real rasa_sdk executor, on real Tracker objects, with the real engine.

The action calls have the shape Rasa 3.6 posts to the action server's ``/webhook``; the executor
builds the ``Tracker`` from them exactly as the server does. The last test starts ``assistant actions``
and goes through HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from rasa_sdk import Tracker

from assistant.config import REPO_ROOT
from assistant.dialogue import rasa_actions
from assistant.dialogue.rasa_actions import (
    ACTIONS,
    HANDOFF_REPLY,
    NOTHING_TO_REPEAT,
    PAYLOAD_KEYS,
    build_executor,
)

SLOTS = {"topic": None, "procedure": None, "action": None, "pending_question": None, "handoff": False,
         "last_answer": None}
DOMAIN = {"slots": {name: {"type": "any", "mappings": [{"type": "custom"}]} for name in SLOTS},
          "intents": ["ask", "affirm", "deny", "request_human", "repeat"], "responses": {}, "actions": []}


@pytest.fixture(scope="module")
def executor(engine):
    return build_executor(engine)


def call(executor, action: str, text: str, *, slots: dict | None = None, events: list | None = None,
         intent: str = "ask") -> tuple[dict, list[dict], list[dict]]:
    """Run one action as Rasa would; (slots after the events, events, responses)."""
    state = {**SLOTS, **(slots or {})}
    tracker = {"sender_id": "test-user", "slots": state, "paused": False, "followup_action": None,
               "active_loop": {}, "latest_action_name": "action_listen",
               "latest_message": {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []},
               "events": events or []}
    assert Tracker.from_dict(tracker).latest_message["text"] == text
    result = asyncio.run(executor.run({"next_action": action, "sender_id": "test-user", "version": "3.6.21",
                                       "tracker": tracker, "domain": DOMAIN}))
    assert result is not None
    for e in result.events:
        if e["event"] == "slot":
            state[e["name"]] = e["value"]
    return state, result.events, result.responses


def only_payload(responses: list[dict]) -> dict:
    assert len(responses) == 1
    body = responses[0]["custom"]
    assert set(body) == set(PAYLOAD_KEYS)
    assert body["reply"] == responses[0]["text"]
    return body


def test_exactly_our_actions_are_registered(executor):
    names = ["action_answer", "action_handoff", "action_repeat", "action_feedback"]
    assert sorted(executor.actions) == sorted(names)
    assert [a().name() for a in ACTIONS] == names


@pytest.mark.parametrize(("text", "rating"), [("câu trả lời này sai, thiếu giấy khai sinh 0912345678", -1),
                                              ("tra loi rat de hieu, cam on", 1)])
def test_feedback_is_thanked_and_handed_to_the_app(executor, text, rating):
    slots, _, responses = call(executor, "action_feedback", text, intent="give_feedback",
                               slots={"topic": "cu_tru", "pending_question": "làm căn cước"})
    body = only_payload(responses)
    assert body["reason"] == "feedback" and body["topic"] == "cu_tru" and not body["citations"]
    assert body["feedback"]["rating"] == rating
    assert "0912345678" not in body["feedback"]["comment"]  # personal numbers never leave the action unmasked
    assert slots["pending_question"] is None


def test_answer_carries_the_engine_answer_and_sets_slots(executor, engine):
    question = "Lệ phí cấp đổi thẻ căn cước là bao nhiêu?"
    slots, _, responses = call(executor, "action_answer", question)
    body = only_payload(responses)
    expected = engine.answer(question)
    assert body["reason"] == "answered" and body["abstained"] is False
    assert body["entry_id"] == expected.entry_id and body["topic"] == "can_cuoc"
    assert body["reply"] == expected.answer and body["spoken"] == expected.spoken_answer
    assert body["citations"] and all(set(c) == {"document", "article"} for c in body["citations"])
    assert body["citations"] == [{"document": c.document, "article": c.article} for c in expected.citations]
    assert body["handoff"] is False and body["question"] == question
    assert 0.0 < body["confidence"] <= 1.0
    json.dumps(body)  # travels as JSON
    assert slots["topic"] == "can_cuoc" and slots["last_answer"] == expected.answer
    assert slots["procedure"] == "can_cuoc" and slots["action"] == "cap_doi"
    assert slots["pending_question"] is None


def test_under_specified_question_gets_a_clarifying_question(executor):
    slots, events, responses = call(executor, "action_answer", "Làm căn cước")
    assert len(responses) == 1
    message = responses[0]
    assert message["text"] == "Bạn muốn làm thẻ căn cước lần đầu, cấp đổi hay cấp lại?"
    assert [b["title"] for b in message["buttons"]] == ["Cấp lần đầu", "Cấp đổi", "Cấp lại"]
    body = only_payload(responses)
    assert body["reason"] == "clarify" and body["abstained"] is True and body["handoff"] is False
    assert body["topic"] == "can_cuoc" and body["citations"] == []
    assert body["suggestions"] == [b["payload"] for b in message["buttons"]]
    assert slots["pending_question"] == "Làm căn cước" and slots["procedure"] == "can_cuoc"
    assert not any(e["event"] == "slot" and e["name"] == "last_answer" for e in events)


def test_reply_to_the_clarifying_question_is_combined_with_it(executor):
    slots, events, responses = call(executor, "action_answer", "cấp lại", slots={"pending_question": "làm căn cước"})
    body = only_payload(responses)
    assert body["question"] == "Cấp lại thẻ căn cước"
    assert body["entry_id"] == "can_cuoc_cap_lai_mat_hu_hong" and body["reason"] == "answered"
    assert {"event": "slot", "timestamp": None, "name": "pending_question", "value": None} in events
    assert slots["pending_question"] is None and slots["action"] == "cap_lai"


def test_affirming_keeps_the_pending_question(executor, engine):
    _, _, responses = call(executor, "action_answer", "vâng", slots={"pending_question": "làm hộ chiếu"},
                           intent="affirm")
    body = only_payload(responses)
    assert body["question"] == "làm hộ chiếu"
    assert body["entry_id"] == engine.answer("làm hộ chiếu").entry_id


def test_no_second_clarification_in_a_row(executor):
    _, _, responses = call(executor, "action_answer", "hộ chiếu", slots={"pending_question": "làm căn cước"})
    body = only_payload(responses)
    assert body["reason"] != "clarify" and body["question"] == "hộ chiếu"


@pytest.mark.parametrize(("text", "entries"), [
    ("làm căn cước", ["can_cuoc_cap_the_lan_dau", "can_cuoc_cap_doi_the", "can_cuoc_cap_lai_mat_hu_hong"]),
    ("làm hộ chiếu", ["xuat_nhap_canh_cap_ho_chieu_pho_thong_lan_dau", "xuat_nhap_canh_cap_lai_ho_chieu",
                      "xuat_nhap_canh_cap_lai_ho_chieu"]),
    ("bằng lái", ["giay_phep_lai_xe_sat_hach", "giay_phep_lai_xe_doi_cap_lai", "giay_phep_lai_xe_doi_cap_lai"]),
    ("đăng ký xe", ["dang_ky_xe_lan_dau", "dang_ky_xe_doi_chung_nhan_bien_so", "dang_ky_xe_cap_lai_khi_mat"]),
])
def test_each_button_leads_to_its_entry(executor, text, entries):
    slots, _, responses = call(executor, "action_answer", text)
    buttons = responses[0]["buttons"]
    assert len(buttons) == 3
    for button, entry in zip(buttons, entries, strict=True):
        _, _, answered = call(executor, "action_answer", button["payload"], slots=slots)
        assert only_payload(answered)["entry_id"] == entry, button


def test_specific_short_question_is_answered_directly(executor):
    _, _, responses = call(executor, "action_answer", "lệ phí căn cước")
    body = only_payload(responses)
    assert body["reason"] == "answered" and body["entry_id"] == "can_cuoc_le_phi"


def test_out_of_scope_message_abstains_without_citations(executor):
    slots, _, responses = call(executor, "action_answer", "thời tiết hôm nay thế nào")
    body = only_payload(responses)
    assert body["abstained"] is True and body["citations"] == [] and body["entry_id"] is None
    assert body["reason"] in {"out_of_scope", "low_confidence"}


def test_personal_numbers_are_masked_in_payload_slots_and_logs(executor, caplog):
    question = "Tôi bị mất căn cước số 012345678901, gọi 0912345678 giúp"
    with caplog.at_level(logging.INFO, logger="assistant.dialogue.actions"):
        _, _, responses = call(executor, "action_answer", question)
    body = only_payload(responses)
    assert "012345678901" not in body["question"] and "0912345678" not in body["question"]
    assert "***01" in body["question"]
    assert caplog.records and "012345678901" not in caplog.text and "0912345678" not in caplog.text


def test_handoff(executor):
    slots, events, responses = call(executor, "action_handoff", "cho tôi gặp cán bộ", slots={"topic": "cu_tru"},
                                    intent="request_human")
    body = only_payload(responses)
    assert body["reply"] == HANDOFF_REPLY and "113" in body["reply"]
    assert body["handoff"] is True and body["abstained"] is True and body["reason"] == "handoff"
    assert body["topic"] == "cu_tru" and body["citations"] == []
    assert slots["handoff"] is True


def test_repeat_says_the_last_answer_again_with_its_citations(executor):
    slots, events, responses = call(executor, "action_answer", "Cấp lại thẻ căn cước")
    first = only_payload(responses)
    history = [{"event": "user", "text": "Cấp lại thẻ căn cước"},
               {"event": "bot", "text": responses[0]["text"], "data": {"custom": first}}]
    _, repeat_events, repeated = call(executor, "action_repeat", "nói lại đi", slots=slots, events=history,
                                      intent="repeat")
    body = only_payload(repeated)
    assert body["reason"] == "repeat" and body["reply"] == first["reply"]
    assert body["citations"] == first["citations"] and body["entry_id"] == first["entry_id"]
    assert body["spoken"] == first["spoken"] and body["handoff"] is False
    assert repeat_events == []


def test_repeat_falls_back_to_the_last_bot_text(executor):
    history = [{"event": "bot", "text": "Xin chào, mình có thể giúp gì?", "data": {}}]
    _, _, repeated = call(executor, "action_repeat", "gì cơ", events=history, intent="repeat")
    body = only_payload(repeated)
    assert body["reply"] == "Xin chào, mình có thể giúp gì?" and body["reason"] == "repeat"


def test_repeat_with_nothing_said_yet(executor):
    _, _, repeated = call(executor, "action_repeat", "nhắc lại", intent="repeat")
    body = only_payload(repeated)
    assert body["reply"] == NOTHING_TO_REPEAT and body["reason"] == "repeat"


def test_process_wide_engine_is_loaded_once(engine, monkeypatch):
    monkeypatch.setattr(rasa_actions, "_engine", None)
    rasa_actions.set_engine(engine)
    assert rasa_actions.get_engine() is engine
    assert rasa_actions.ActionAnswer().engine is engine


# ------------------------------------------------------------------------------------- over HTTP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


@pytest.mark.integration
@pytest.mark.slow
def test_assistant_actions_serves_the_webhook():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli.main", "actions", "--port", str(port)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if _http("GET", f"http://127.0.0.1:{port}/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "action server not healthy in 180 s"
            time.sleep(0.5)
        assert _http("GET", f"http://127.0.0.1:{port}/actions")[1] == [
            {"name": "action_answer"}, {"name": "action_handoff"}, {"name": "action_repeat"},
                {"name": "action_feedback"}]
        tracker = {"sender_id": "http", "slots": SLOTS, "events": [],
                   "latest_message": {"text": "Cấp lại hộ chiếu bị mất, số CCCD 012345678901", "intent": {}}}
        status, result = _http("POST", f"http://127.0.0.1:{port}/webhook",
                               {"next_action": "action_answer", "sender_id": "http", "version": "3.6.21",
                                "tracker": tracker, "domain": DOMAIN})
        assert status == 200
        body = result["responses"][0]["custom"]
        assert body["topic"] == "xuat_nhap_canh" and body["citations"]
    finally:
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=30)
    log = out.decode()
    assert proc.returncode == 0, log
    assert "012345678901" not in log and "action_answer" in log
