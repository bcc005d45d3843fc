"""Admin-made tokens across processes, and the inbox (handled items, claims, masking), on one database."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from assistant.editor.auth import Principal
from assistant.editor.editor_store import EditorStore
from assistant.editor.service import EditorService, NotFound
from assistant.store import ChatStore
from assistant.store.models import Message

ADMIN = Principal("quản trị", "admin")
EDITOR = Principal("Chị Lan", "editor")


def two_workers(settings):
    """Two services on one database, as two uvicorn workers would have."""
    out = []
    for _ in range(2):
        store = EditorStore(settings.db_url)
        store.migrate()
        out.append(EditorService(settings, store, prerender=False))
    return out


def test_tokens_made_or_revoked_in_one_worker_count_in_every_worker(workspace):
    a, b = two_workers(workspace)
    token = a.create_token("publisher", "Anh Minh", ADMIN)
    assert b.principal(token) == Principal("Anh Minh", "publisher")  # made in a, used in b
    fingerprint = next(t["fingerprint"] for t in b.store.tokens() if t["name"] == "Anh Minh")
    b.revoke_token(fingerprint, ADMIN)
    assert a.principal(token) is None and b.principal(token) is None  # revoked in b: refused in a at once
    with pytest.raises(NotFound):
        a.revoke_token(fingerprint, ADMIN)
    assert a.principal("editor-token-0001").role == "editor"  # configured tokens keep working
    assert [e["action"] for e in a.store.audit_events()][:2] == ["token_revoke", "token_create"]
    for svc in (a, b):
        svc.store.dispose()


def declined(chat: ChatStore, question: str) -> str:
    session = chat.create_session()
    chat.add_message(session, "user", question)
    return chat.add_message(session, "assistant", "Xin lỗi, tôi chưa có câu trả lời.", abstained=True,
                            reason="low_confidence").id


@pytest.fixture
def inbox_env(workspace):
    chat = ChatStore(workspace.db_url)
    chat.migrate()
    store = EditorStore(workspace.db_url)
    svc = EditorService(workspace, store, prerender=False)
    yield SimpleNamespace(chat=chat, svc=svc, store=store)
    store.dispose()
    chat.dispose()


def test_handled_messages_are_left_out_before_the_limit(inbox_env):
    from assistant.editor import inbox

    env = inbox_env
    newest_first = [declined(env.chat, f"Nuôi chó cảnh số {i} có phải đăng ký không?") for i in range(3)][::-1]
    env.store.claim_inbox(newest_first[:2], "cu_tru_nuoi_cho")  # the two newest became a draft
    items = inbox.unanswered(env.store.engine, limit=1)
    assert [i["message_id"] for i in items] == [newest_first[2]]  # not an empty page of handled ones


def test_a_group_becomes_one_draft_only_and_its_messages_leave_the_inbox(inbox_env):
    env = inbox_env
    ids = [declined(env.chat, q) for q in ("Nuôi chó cảnh có phải đăng ký với công an không?",
                                           "nuoi cho canh co phai dang ky khong")]
    draft = env.svc.draft_from_inbox(ids, "cu_tru", EDITOR)
    assert draft["draft_complete"] is False and set(draft["questions"]) >= {
        "Nuôi chó cảnh có phải đăng ký với công an không?", "nuoi cho canh co phai dang ky khong"}
    with pytest.raises(NotFound):
        env.svc.draft_from_inbox(ids, "cu_tru", EDITOR)  # already handled: no second draft
    assert env.store.claim_inbox(ids, "khac") == []
    assert len(env.store.open_drafts()) == 1
    engine = SimpleNamespace(similar_vectors=lambda texts: np.ones((len(texts), 4)))
    assert env.svc.inbox(engine) == []

    body = {k: v for k, v in draft.items() if k in ("id", "topic", "title", "questions", "status")}
    saved = env.svc.save_incomplete(draft["id"], {**body, "answer": "Đang viết…"}, draft["version"], EDITOR)
    assert saved["answer"] == "Đang viết…"
    event = env.store.audit_events(entry_id=draft["id"])[0]
    assert event["action"] == "update" and event["detail"] == {"partial": True} and "+answer: Đang viết…" in event["diff"]


def test_inbox_examples_never_show_id_or_phone_numbers(inbox_env):
    env = inbox_env
    declined(env.chat, "Tôi số căn cước 001203004567, điện thoại 0912345678, muốn đăng ký nuôi chó thì làm sao?")
    session = env.chat.create_session()  # a row written without the store's masking (older data, another path)
    env.chat.add_message(session, "user", "placeholder")
    with env.store.engine.begin() as conn:
        conn.execute(Message.__table__.update().where(Message.__table__.c.session_id == session)
                     .values(text="Hộ chiếu B1234567 của tôi hết hạn, gọi 0987654321 được không?"))
    raw = env.chat.add_message(session, "assistant", "Xin lỗi.", abstained=True, reason="out_of_scope").id
    engine = SimpleNamespace(similar_vectors=lambda texts: np.ones((len(texts), 4)))
    groups = env.svc.inbox(engine)
    shown = " ".join(q for g in groups for q in g["examples"] + g["questions"] + [g["label"]])
    for secret in ("001203004567", "0912345678", "B1234567", "0987654321"):
        assert secret not in shown
    assert "[SỐ ĐỊNH DANH ***67]" in shown and "[SĐT ***78]" in shown and "[HỘ CHIẾU ***67]" in shown
    draft = env.svc.draft_from_inbox([m for g in groups for m in g["message_ids"]], "cu_tru", EDITOR)
    assert raw in [m for g in groups for m in g["message_ids"]]
    assert not any(secret in " ".join(draft["questions"]) for secret in ("0987654321", "001203004567"))
