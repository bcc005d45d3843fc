"""The editor API end to end on a copy of the corpus: auth, drafts, 422/409, publish with a hot swap
while citizens are answered, rollback, a crash before the pointer switch, inbox, legal currency.

One module-scoped app (the real engine) and one index build for the whole module.
"""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from assistant.api.main import create_app
from assistant.editor import publishing, versions
from assistant.editor.auth import FailureThrottle
from assistant.editor.build_worker import BuildFailed
from assistant.editor.hot_reload import IndexFollower
from assistant.qa.index_build import current_version

from .conftest import ADMIN, EDITOR, PUBLISHER, FakeBuild, make_workspace

pytestmark = pytest.mark.integration
ENTRY = "cu_tru_dang_ky_tam_tru"
QUESTION = "Đăng ký tạm trú cần giấy tờ gì?"
MARK = "CẬP NHẬT THỬ NGHIỆM:"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    settings = make_workspace(tmp_path_factory.mktemp("editor-api"))
    app = create_app(settings, load_in_background=False)
    with TestClient(app) as client:
        yield client, settings, app.state.assistant


def chat(client, message=QUESTION) -> dict:
    r = client.post("/api/v1/chat", json={"message": message})
    assert r.status_code == 200, r.text
    return r.json()


def wait_job(client, job: dict, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while job["state"] == "building":
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
        job = client.get(f"/api/v1/kb/publish/{job['id']}", headers=EDITOR).json()
    return job


def editable(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("errors", "flags", "has_draft", "published")}


def test_tokens_are_required_and_roles_checked(ctx):
    client, _, _ = ctx
    assert client.get("/api/v1/kb/entries").status_code == 401
    r = client.get("/api/v1/kb/entries", headers={"Authorization": "Bearer wrong-token"})
    assert r.status_code == 401 and "Mã truy cập" in r.json()["detail"]
    r = client.post("/api/v1/kb/publish", headers=EDITOR, json={})
    assert r.status_code == 403 and "biên tập viên" in r.json()["detail"]
    assert client.get("/api/v1/kb/tokens", headers=PUBLISHER).status_code == 403
    made = client.post("/api/v1/kb/tokens", headers=ADMIN, json={"role": "editor", "name": "Chị Lan"})
    assert made.status_code == 201
    me = client.get("/api/v1/kb/me", headers={"Authorization": f"Bearer {made.json()['token']}"}).json()
    assert me == {"name": "Chị Lan", "role": "editor", "role_name": "biên tập viên"}
    listed = client.get("/api/v1/kb/tokens", headers=ADMIN).json()["tokens"]
    assert made.json()["token"] not in str(listed)


def test_list_search_and_filter(ctx):
    client, _, _ = ctx
    all_ = client.get("/api/v1/kb/entries", headers=EDITOR).json()
    assert all_["count"] >= 100
    found = client.get("/api/v1/kb/entries", headers=EDITOR, params={"q": "dang ky tam tru", "topic": "cu_tru"}).json()
    assert ENTRY in [e["id"] for e in found["entries"]]
    assert all(e["topic"] == "cu_tru" for e in found["entries"])
    drafts = client.get("/api/v1/kb/entries", headers=EDITOR, params={"status": "draft"}).json()["entries"]
    assert drafts and all(e["status"] == "draft" for e in drafts)
    entry = client.get(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).json()
    for name in ("id", "topic", "title", "questions", "answer", "spoken_answer", "legal_basis", "effective_from",
                 "reviewed_at", "status", "version"):
        assert name in entry
    assert client.get("/api/v1/kb/entries/khong_co", headers=EDITOR).status_code == 404


def test_invalid_entries_get_vietnamese_field_errors(ctx):
    client, _, _ = ctx
    entry = editable(client.get(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).json())
    new = {**entry, "id": "cu_tru_thu_nghiem_moi", "legal_basis": []}
    new.pop("version")
    r = client.post("/api/v1/kb/entries", headers=EDITOR, json=new)
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert "căn cứ pháp lý" in errors["legal_basis"]
    r = client.put(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR, json={**entry, "spoken_answer": "**đậm**"})
    assert r.status_code == 422 and "spoken_answer" in {e["field"] for e in r.json()["errors"]}
    live = client.post("/api/v1/kb/validate", headers=EDITOR, json={**entry, "questions": ["một"]}).json()
    assert live["valid"] is False and "cần ít nhất 6 câu hỏi mẫu" in live["errors"][0]["message"]


def test_create_conflict_and_delete_a_draft(ctx):
    client, _, _ = ctx
    entry = editable(client.get(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).json())
    entry.pop("version")
    new = {**entry, "id": "cu_tru_ban_nhap_se_xoa", "title": "Bản nháp sẽ xóa",
           "questions": [q + " nhe" for q in entry["questions"]]}
    r = client.post("/api/v1/kb/entries", headers=EDITOR, json=new)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "cu_tru_ban_nhap_se_xoa" and r.json()["has_draft"]
    assert client.post("/api/v1/kb/entries", headers=EDITOR, json=new).status_code == 409
    assert client.post("/api/v1/kb/entries", headers=EDITOR, json={**entry}).status_code == 409  # published id
    version = r.json()["version"]
    first = client.put("/api/v1/kb/entries/cu_tru_ban_nhap_se_xoa", headers=EDITOR, json={**new, "version": version})
    assert first.status_code == 200
    stale = client.put("/api/v1/kb/entries/cu_tru_ban_nhap_se_xoa", headers=EDITOR,
                       json={**new, "title": "Sửa trên bản cũ", "version": version})
    assert stale.status_code == 409 and "tải lại" in stale.json()["detail"]
    assert client.delete("/api/v1/kb/entries/cu_tru_ban_nhap_se_xoa", headers=EDITOR).status_code == 204
    assert client.get("/api/v1/kb/entries/cu_tru_ban_nhap_se_xoa", headers=EDITOR).status_code == 404
    assert client.delete("/api/v1/kb/entries/cu_tru_ban_nhap_se_xoa", headers=EDITOR).status_code == 404


def test_publish_swaps_live_without_failed_requests_then_rollback(ctx):
    client, settings, state = ctx
    before = chat(client)["reply"]
    old_version = state.engine.version
    other_worker = {"engine": state.engine}  # another process following CURRENT
    follower = IndexFollower(settings, lambda: other_worker["engine"], lambda e: other_worker.update(engine=e))
    follower.check()
    entry = editable(client.get(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).json())
    entry["answer"] = f"{MARK} {entry['answer']}"
    saved = client.put(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR, json=entry)
    assert saved.status_code == 200, saved.text
    assert chat(client)["reply"] == before  # drafts are never visible to citizens
    diff = client.get("/api/v1/kb/diff", headers=EDITOR).json()
    assert diff["count"] == 1 and f"+  {MARK}" in diff["changes"][0]["diff"].replace("|-\n", "")

    failures, replies, stop = [], [], threading.Event()

    def citizens():
        while not stop.is_set():
            r = client.post("/api/v1/chat", json={"message": QUESTION})
            if r.status_code != 200:
                failures.append(r.status_code)
            else:
                replies.append(r.json()["reply"])
            time.sleep(0.05)  # a steady trickle; back-to-back requests would starve the build of the GIL

    load = threading.Thread(target=citizens)
    load.start()
    try:
        r = client.post("/api/v1/kb/publish", headers=PUBLISHER, json={"message": "thử nghiệm"})
        assert r.status_code == 202, r.text
        job = wait_job(client, r.json())
    finally:
        stop.set()
        load.join()
    assert job["state"] == "live", job
    assert failures == [] and replies
    new_version = job["version"]
    assert state.engine.version == new_version == current_version(settings.index_path)
    assert state.dialogue.retrieval.engine is state.engine
    assert chat(client)["reply"].startswith(MARK)
    assert MARK in (settings.kb_dir / "entries" / "cu_tru" / f"{ENTRY}.yaml").read_text(encoding="utf-8")
    assert client.get("/api/v1/kb/diff", headers=EDITOR).json()["count"] == 0
    assert follower.check() and other_worker["engine"].version == new_version

    listed = client.get("/api/v1/kb/versions", headers=EDITOR).json()
    assert listed["serving"] == new_version
    assert [v["version"] for v in listed["versions"]][:2] == [new_version, old_version]
    snap = versions.snapshot_dir(settings, new_version)
    assert not (snap / "documents.yaml").stat().st_mode & 0o222  # immutable
    audit = client.get("/api/v1/kb/audit", headers=PUBLISHER).json()["events"]
    assert [e["action"] for e in audit][:2] == ["publish", "update"]
    assert MARK in audit[0]["diff"] and audit[0]["actor"].startswith("publisher")
    about_entry = client.get("/api/v1/kb/audit", headers=PUBLISHER, params={"entry_id": ENTRY}).json()["events"]
    assert about_entry[0]["action"] == "publish" and about_entry[0]["version"] == new_version
    assert client.get("/api/v1/kb/audit", headers=EDITOR).status_code == 403
    between = client.get("/api/v1/kb/diff", headers=EDITOR, params={"from": old_version, "to": new_version}).json()
    assert MARK in between["diff"]

    r = client.post("/api/v1/kb/rollback", headers=PUBLISHER, json={"version": old_version, "wait": True})
    assert r.status_code == 200 and r.json()["state"] == "live", r.text
    assert state.engine.version == old_version and chat(client)["reply"] == before
    assert MARK not in (settings.kb_dir / "entries" / "cu_tru" / f"{ENTRY}.yaml").read_text(encoding="utf-8")
    assert client.post("/api/v1/kb/rollback", headers=PUBLISHER, json={"version": "khong-co"}).status_code == 404


def test_a_crash_before_the_pointer_switch_leaves_the_previous_version_serving(ctx):
    client, settings, state = ctx
    serving = state.engine.version
    kb_file = settings.kb_dir / "entries" / "cu_tru" / f"{ENTRY}.yaml"
    original = kb_file.read_bytes()
    entry = editable(client.get(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).json())
    entry["answer"] = f"{MARK} {entry['answer']}"  # the same content as before: its index is already built
    assert client.put(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR, json=entry).status_code == 200

    def crash(settings, version):  # knowledge_base/ is rewritten; the process "dies" right before the switch
        raise RuntimeError("simulated crash before the pointer switch")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(versions, "point_current", crash)
        job = wait_job(client, client.post("/api/v1/kb/publish", headers=PUBLISHER, json={}).json())
    assert job["state"] == "failed" and "simulated crash" in job["error"]
    assert current_version(settings.index_path) == serving == state.engine.version
    assert kb_file.read_bytes() == original  # knowledge_base/ put back in step with CURRENT
    assert not (versions.editor_dir(settings) / versions.JOURNAL).exists()
    assert client.get("/api/v1/kb/diff", headers=EDITOR).json()["count"] == 1  # the draft is kept
    assert client.delete(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).status_code == 204


def save_draft(client, entry_id=ENTRY, **changes) -> dict:
    entry = editable(client.get(f"/api/v1/kb/entries/{entry_id}", headers=EDITOR).json())
    r = client.put(f"/api/v1/kb/entries/{entry_id}", headers=EDITOR, json={**entry, **changes})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_second_publish_gets_409_and_a_failed_build_leaves_the_old_version_serving(ctx, monkeypatch):
    client, settings, state = ctx
    before, serving = chat(client)["reply"], state.engine.version
    save_draft(client, title="Đăng ký tạm trú (bản dựng hỏng)")
    build = FakeBuild()
    build.gate, build.error = threading.Event(), BuildFailed("index build failed (exit -9): killed")
    monkeypatch.setattr(publishing, "build_in_child", build)
    monkeypatch.setattr(state.editor.publisher, "lock_wait_s", 0.3)
    first = client.post("/api/v1/kb/publish", headers=PUBLISHER, json={"message": "một"})
    assert first.status_code == 202 and first.json()["state"] == "building"
    second = client.post("/api/v1/kb/publish", headers=PUBLISHER, json={"message": "hai"})
    assert second.status_code == 409 and "đang có một lần xuất bản" in second.json()["detail"]
    build.gate.set()
    job = wait_job(client, first.json())
    assert job["state"] == "failed" and "exit -9" in job["error"]
    assert current_version(settings.index_path) == serving == state.engine.version
    assert chat(client)["reply"] == before
    assert client.get("/api/v1/kb/diff", headers=EDITOR).json()["count"] == 1  # the draft is kept

    waited = client.post("/api/v1/kb/publish", headers=PUBLISHER, json={"wait": True})
    assert waited.status_code == 500 and waited.json()["state"] == "failed"
    assert "Phiên bản cũ vẫn đang phục vụ" in waited.json()["detail"]
    events = client.get("/api/v1/kb/audit", headers=PUBLISHER, params={"entry_id": ENTRY}).json()["events"]
    assert [e["action"] for e in events][:2] == ["publish_failed", "publish_failed"]
    assert client.delete(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).status_code == 204


def test_bad_requests_are_refused(ctx):
    client, _, _ = ctx
    entry = editable(client.get(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).json())
    entry.pop("version")
    r = client.put(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR, json={**entry, "title": "Không có phiên bản"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "version"  # optimistic locking is required
    assert client.get(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).json()["has_draft"] is False
    for entries in ("cu_tru", ["cu_tru", 3], {"id": ENTRY}):
        r = client.post("/api/v1/kb/publish", headers=PUBLISHER, json={"entries": entries})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "entries", entries


def test_a_corpus_that_does_not_validate_is_not_published(ctx):
    client, settings, state = ctx
    serving = current_version(settings.index_path)
    other = client.get("/api/v1/kb/entries/cu_tru_chuyen_noi_thuong_tru", headers=EDITOR).json()
    entry = editable(client.get(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).json())
    save_draft(client, questions=entry["questions"] + [other["questions"][0]])  # valid alone, not in the corpus
    r = client.post("/api/v1/kb/publish", headers=PUBLISHER, json={"message": "trùng câu hỏi"})
    assert r.status_code == 422 and "chưa hợp lệ" in r.json()["detail"]
    assert any("có ở nhiều mục" in p and "cu_tru_chuyen_noi_thuong_tru" in p for p in r.json()["problems"])
    assert current_version(settings.index_path) == serving == state.engine.version
    event = client.get("/api/v1/kb/audit", headers=PUBLISHER).json()["events"][0]
    assert event["action"] == "publish_failed" and event["detail"]["stage"] == "validate"
    assert client.delete(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).status_code == 204


def test_a_draft_written_against_an_older_published_text_gets_409(ctx):
    client, settings, _ = ctx
    save_draft(client, title="Đăng ký tạm trú (bản nháp cũ)")
    path = settings.kb_dir / "entries" / "cu_tru" / f"{ENTRY}.yaml"
    original = path.read_bytes()
    path.write_text(original.decode().replace("\nanswer:", "\nreview_note: sửa tay\nanswer:", 1), encoding="utf-8")
    try:
        r = client.post("/api/v1/kb/publish", headers=PUBLISHER, json={})
        assert r.status_code == 409 and "bản nháp dựa trên phiên bản cũ" in r.json()["detail"]
        assert r.json()["entries"] == [ENTRY] and ENTRY in r.json()["problems"][0]
        assert client.get(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).json()["rebase_needed"] is True
    finally:
        path.write_bytes(original)
    assert client.delete(f"/api/v1/kb/entries/{ENTRY}", headers=EDITOR).status_code == 204


def test_a_revoked_token_is_refused_and_wrong_tokens_are_throttled(ctx, monkeypatch):
    client, _, state = ctx
    made = client.post("/api/v1/kb/tokens", headers=ADMIN, json={"role": "editor", "name": "Anh Tuấn"}).json()
    mine = {"Authorization": f"Bearer {made['token']}"}
    assert client.get("/api/v1/kb/me", headers=mine).status_code == 200
    fingerprint = next(t["fingerprint"] for t in client.get("/api/v1/kb/tokens", headers=ADMIN).json()["tokens"]
                       if t["name"] == "Anh Tuấn")
    assert client.delete(f"/api/v1/kb/tokens/{fingerprint}", headers=ADMIN).status_code == 204
    r = client.get("/api/v1/kb/me", headers=mine)
    assert r.status_code == 401 and "thu hồi" in r.json()["detail"]
    assert client.delete(f"/api/v1/kb/tokens/{fingerprint}", headers=ADMIN).status_code == 404

    monkeypatch.setattr(state.editor, "throttle", FailureThrottle(limit=3))
    wrong = {"Authorization": "Bearer doan-bua-mot-ma-dai-16"}
    assert [client.get("/api/v1/kb/me", headers=wrong).status_code for _ in range(3)] == [401, 401, 401]
    r = client.get("/api/v1/kb/me", headers=wrong)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and "quá nhiều lần" in r.json()["detail"]
    assert client.get("/api/v1/kb/me", headers=EDITOR).status_code == 429  # even the right token, for a while


def test_inbox_groups_unanswered_questions_and_makes_a_draft(ctx):
    client, _, _ = ctx
    asked = ["Làm sao để đăng ký nuôi chó cảnh với công an phường?", "dang ky nuoi cho canh o cong an phuong the nao",
             "Nuôi chó cảnh có phải đăng ký với công an không?"]
    declined = [chat(client, q) for q in asked]
    liked_less = chat(client)
    client.post("/api/v1/feedback", json={"message_id": liked_less["message_id"], "rating": -1})
    groups = client.get("/api/v1/kb/inbox", headers=EDITOR).json()["groups"]
    assert any(g["reasons"].get("thumbs_down") for g in groups)
    declined_ids = {d["message_id"] for d in declined if d["abstained"]}
    assert declined_ids, declined
    dogs = [g for g in groups if set(g["message_ids"]) & declined_ids]
    biggest = max(dogs, key=lambda g: g["count"])
    assert biggest["count"] >= 2 and biggest["examples"]
    r = client.post("/api/v1/kb/inbox/draft", headers=EDITOR, json={"message_ids": biggest["message_ids"], "topic": "cu_tru"})
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["id"].startswith("cu_tru_") and draft["draft_complete"] is False and draft["errors"]
    assert set(biggest["examples"]) <= set(draft["questions"])
    after = client.get("/api/v1/kb/inbox", headers=EDITOR).json()["groups"]
    assert not any(set(g["message_ids"]) & set(biggest["message_ids"]) for g in after)
    kept = client.put(f"/api/v1/kb/entries/{draft['id']}?partial=true", headers=EDITOR,
                      json={**editable(draft), "answer": "Đang viết…"})
    assert kept.status_code == 200 and kept.json()["answer"] == "Đang viết…"
    assert client.delete(f"/api/v1/kb/entries/{draft['id']}", headers=EDITOR).status_code == 204


def test_legal_currency_flags_entries_citing_replaced_law(ctx):
    client, _, _ = ctx
    report = client.get("/api/v1/kb/currency", headers=EDITOR).json()
    assert report["count"] >= 1
    entry_id, flags = next(iter(report["entries"].items()))
    entry = editable(client.get(f"/api/v1/kb/entries/{entry_id}", headers=EDITOR).json())
    assert client.get(f"/api/v1/kb/entries/{entry_id}", headers=EDITOR).json()["flags"]
    checked = client.post("/api/v1/kb/validate", headers=EDITOR, json={**entry, "reviewed_at": "2020-01-01"}).json()
    assert any(f["stale"] and f["status"] in ("superseded", "expired") for f in checked["flags"])
    assert "bị thay thế" in " ".join(f["message"] for f in checked["flags"]) or "hết hiệu lực" in str(checked)


def test_editor_page_is_served_without_cdn(ctx):
    client, _, _ = ctx
    page = client.get("/editor")
    assert page.status_code == 200 and 'lang="vi"' in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/editor/static/editor.js").status_code == 200


def test_preview_audio_is_a_wav_or_a_clear_503(ctx):
    client, _, _ = ctx
    r = client.post("/api/v1/kb/preview-audio", headers=EDITOR, json={"text": "Xin chào, đây là câu trả lời nói."})
    if r.status_code == 200:
        assert r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
    else:
        assert r.status_code == 503 and r.json()["detail"]
    assert client.post("/api/v1/kb/preview-audio", headers=EDITOR, json={"text": ""}).status_code == 422
