"""``/api/v1/kb``: publish, rollback, versions, audit (publisher), inbox (editor), tokens (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, status
from fastapi.responses import JSONResponse

from assistant.editor import versions
from assistant.editor.api import Admin, Editor, Publisher, Service, invalid, not_found
from assistant.editor.auth import RANK
from assistant.editor.editor_store import Conflict
from assistant.editor.publishing import Busy, PublishInvalid, StaleDrafts
from assistant.editor.service import NotFound

router = APIRouter(prefix="/kb", tags=["editor"])


def _job(job) -> JSONResponse:
    """202 while building; with ``wait``: 200 when live, 500 with the job (and its error) when it failed."""
    body = job.as_dict()
    if not job.done.is_set():
        return JSONResponse(body, status_code=202)
    if job.state == "failed":
        what = "Xuất bản" if job.kind == "publish" else "Khôi phục"
        return JSONResponse({**body, "detail": f"{what} thất bại: {job.error}. Phiên bản cũ vẫn đang phục vụ."},
                            status_code=500)
    return JSONResponse(body, status_code=200)


def stale(entries: list[str]) -> JSONResponse:
    return JSONResponse({"detail": "Có bản nháp dựa trên phiên bản cũ của mục (nội dung đã xuất bản đã đổi từ khi "
                                   "soạn: khôi phục phiên bản, sửa tay hoặc cập nhật từ git). Hãy mở lại từng mục, "
                                   "xem lại thay đổi và lưu lại bản nháp (rebase) rồi xuất bản. Chưa xuất bản gì.",
                         "entries": entries,
                         "problems": [f"{e}: bản nháp dựa trên phiên bản cũ, cần mở lại và lưu lại" for e in entries]},
                        status_code=409)


@router.post("/publish", status_code=status.HTTP_202_ACCEPTED,
             summary="Validate the corpus with the drafts, build in the background, switch atomically")
def publish(request: Request, who: Publisher, svc: Service,
            payload: Annotated[dict[str, Any] | None, Body()] = None) -> JSONResponse:
    payload = payload or {}
    entries = payload.get("entries")
    if entries is not None and (not isinstance(entries, list) or not all(isinstance(e, str) for e in entries)):
        return invalid([{"field": "entries", "message": "entries: cần một danh sách mã mục (chuỗi ký tự)"}])
    if not request.app.state.assistant.ready:
        raise HTTPException(503, "Hệ thống đang khởi động, vui lòng thử lại sau giây lát.")
    try:
        job = svc.publish(who, message=str(payload.get("message") or "")[:500], entry_ids=entries or None,
                          wait=bool(payload.get("wait")))
    except PublishInvalid as exc:
        return JSONResponse({"detail": "Kho tri thức sau khi áp bản nháp chưa hợp lệ; chưa xuất bản gì.",
                             "problems": exc.problems}, status_code=422)
    except StaleDrafts as exc:
        return stale(exc.entries)
    except Busy as exc:
        raise HTTPException(409, str(exc)) from None
    except NotFound:
        raise HTTPException(409, "Không có bản nháp hoàn chỉnh nào để xuất bản.") from None
    return _job(job)


@router.get("/publish/{job_id}", summary="State of a publish or rollback (building, live, failed)")
def publish_state(job_id: str, who: Editor, svc: Service) -> JSONResponse:
    job = svc.publisher.job(job_id)
    if job is None:
        raise not_found("lần xuất bản này")
    return JSONResponse(job)


@router.post("/rollback", status_code=status.HTTP_202_ACCEPTED, summary="Serve an earlier published version again")
def rollback(request: Request, who: Publisher, svc: Service, payload: Annotated[dict[str, Any], Body()]) -> JSONResponse:
    version = payload.get("version")
    if not isinstance(version, str) or not version:
        return invalid([{"field": "version", "message": "version: cần chọn phiên bản để khôi phục"}])
    if not request.app.state.assistant.ready:
        raise HTTPException(503, "Hệ thống đang khởi động, vui lòng thử lại sau giây lát.")
    try:
        job = svc.rollback(who, version, wait=bool(payload.get("wait")))
    except (KeyError, ValueError):
        raise not_found(f"phiên bản {version}") from None
    except Busy as exc:
        raise HTTPException(409, str(exc)) from None
    return _job(job)


@router.get("/versions", summary="Published versions, newest first")
def list_versions(request: Request, who: Editor) -> dict[str, Any]:
    state = request.app.state.assistant
    serving = state.engine.version if state.engine is not None else None
    return {"serving": serving, "versions": versions.list_versions(state.settings)}


@router.get("/audit", summary="Who changed what, when, with the diff")
def audit(who: Publisher, svc: Service, entry_id: str | None = None, limit: int = 100) -> dict[str, Any]:
    return {"events": svc.store.audit_events(entry_id=entry_id, limit=max(1, min(limit, 1000)))}


@router.get("/inbox", summary="Declined and thumbs-down questions, grouped by similarity")
def inbox(request: Request, who: Editor, svc: Service) -> dict[str, Any]:
    state = request.app.state.assistant
    if state.engine is None:
        raise HTTPException(503, "Hệ thống đang khởi động, vui lòng thử lại sau giây lát.")
    groups = svc.inbox(state.engine)
    return {"groups": groups, "count": sum(g["count"] for g in groups)}


@router.post("/inbox/draft", status_code=status.HTTP_201_CREATED, summary="Turn an inbox group into a new draft")
def inbox_draft(who: Editor, svc: Service, payload: Annotated[dict[str, Any], Body()]):
    ids = payload.get("message_ids")
    topic = payload.get("topic")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return invalid([{"field": "message_ids", "message": "message_ids: cần danh sách mã tin nhắn của nhóm"}])
    try:
        return svc.draft_from_inbox(ids, str(topic or ""), who)
    except ValueError as exc:
        return invalid([{"field": "topic", "message": f"chủ đề: {exc}"}])
    except NotFound:
        raise not_found("câu hỏi trong hộp thư (có thể đã được xử lý)") from None
    except Conflict:
        raise HTTPException(409, "Đã có bản nháp cùng mã; hãy thử lại.") from None


@router.get("/tokens", summary="Tokens created by admins (fingerprints only)")
def list_tokens(who: Admin, svc: Service) -> dict[str, Any]:
    return {"tokens": [{k: v for k, v in t.items() if k != "digest"} for t in svc.store.tokens()]}


@router.post("/tokens", status_code=status.HTTP_201_CREATED, summary="Create a token (shown once)")
def create_token(who: Admin, svc: Service, payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    role, name = payload.get("role"), str(payload.get("name") or "").strip()[:100]
    if role not in RANK or not name:
        raise HTTPException(422, "Cần role (editor, publisher hoặc admin) và name.")
    return {"token": svc.create_token(role, name, who), "role": role, "name": name}


@router.delete("/tokens/{fingerprint}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a token")
def revoke_token(fingerprint: str, who: Admin, svc: Service) -> None:
    try:
        svc.revoke_token(fingerprint, who)
    except NotFound:
        raise not_found("mã truy cập này") from None
