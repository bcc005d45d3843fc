"""``/api/v1/kb``: entries, drafts, validation, diff, preview audio, legal currency (editor role).

Every route needs ``Authorization: Bearer <token>``: 401 without a known token, 403 when the role is
too low, 429 after 10 wrong tokens from one address within a minute (per process). Bodies are entries with the field names of ARCHITECTURE §3; responses add ``version``
(send it back with ``PUT``: optimistic locking, 409 on conflict), ``has_draft``, ``updated_by``,
``errors`` and ``flags`` (citations of replaced law). Invalid entries get 422 with
``{"detail": "...", "errors": [{"field", "message"}]}`` in Vietnamese.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse

from assistant.editor.auth import ROLE_NAMES, Principal
from assistant.errors import AssistantError
from assistant.editor.currency import report
from assistant.editor.editor_store import Conflict
from assistant.editor.entry_io import SERVER_FIELDS
from assistant.editor.service import EditorService, InvalidEntry, NotFound
from assistant.editor.voice_hooks import VoiceUnavailable, render_preview_wav

router = APIRouter(prefix="/kb", tags=["editor"])
MAX_PREVIEW_CHARS = 1000


def editor_service(request: Request) -> EditorService:
    from assistant.editor.wiring import service_for

    return service_for(request.app.state.assistant)


def _principal(request: Request, authorization: str | None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
        raise HTTPException(401, "Cần đăng nhập: gửi mã truy cập trong tiêu đề Authorization: Bearer <mã>.",
                            headers={"WWW-Authenticate": "Bearer"})
    svc = editor_service(request)
    client = request.client.host if request.client else "unknown"
    wait_s = svc.throttle.retry_after(client)
    if wait_s is not None:  # too many wrong tokens from this address: refuse every try for a while
        raise HTTPException(429, f"Nhập sai mã truy cập quá nhiều lần. Vui lòng thử lại sau {wait_s} giây.",
                            headers={"Retry-After": str(wait_s)})
    found = svc.principal(authorization[7:].strip())
    if found is None:
        svc.throttle.failed(client)
        raise HTTPException(401, "Mã truy cập không đúng hoặc đã bị thu hồi.", headers={"WWW-Authenticate": "Bearer"})
    return found


def requires(role: str):
    def dependency(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
        who = _principal(request, authorization)
        if not who.can(role):
            raise HTTPException(403, f"Vai trò {ROLE_NAMES[who.role]} không được làm việc này "
                                     f"(cần {ROLE_NAMES[role]}).")
        return who
    return Depends(dependency)


Editor = Annotated[Principal, requires("editor")]
Publisher = Annotated[Principal, requires("publisher")]
Admin = Annotated[Principal, requires("admin")]
Service = Annotated[EditorService, Depends(editor_service)]


def invalid(errors: list[dict[str, str]]) -> JSONResponse:
    first = errors[0]["message"] if errors else "mục không hợp lệ"
    return JSONResponse({"detail": f"Mục chưa hợp lệ: {first}", "errors": errors}, status_code=422)


def conflict(entry_id: str) -> HTTPException:
    return HTTPException(409, f"Mục {entry_id} đã được người khác sửa hoặc đã xuất bản sau khi bạn mở nó. "
                              "Hãy tải lại để xem bản mới nhất rồi sửa tiếp.")


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"Không tìm thấy {what}.")


@router.get("/me", summary="Who the token belongs to")
def me(who: Editor) -> dict[str, str]:
    return {"name": who.name, "role": who.role, "role_name": ROLE_NAMES[who.role]}


@router.get("/entries", summary="Entries (published, with their drafts), searchable")
def list_entries(who: Editor, svc: Service, q: str = "", topic: str | None = None, status: str | None = None,
                 changed: bool | None = None) -> dict[str, Any]:
    items = svc.list_entries(q=q, topic=topic, status=status, changed=changed)
    return {"count": len(items), "entries": items}


@router.get("/entries/{entry_id}", summary="One entry: its draft if there is one, else the published text")
def get_entry(entry_id: str, who: Editor, svc: Service) -> dict[str, Any]:
    try:
        return svc.get_entry(entry_id)
    except NotFound:
        raise not_found(f"mục {entry_id}") from None


@router.post("/entries", status_code=status.HTTP_201_CREATED, summary="Create a new entry as a draft")
def create_entry(who: Editor, svc: Service, payload: Annotated[dict[str, Any], Body()]):
    try:
        return svc.create(payload, who)
    except InvalidEntry as exc:
        return invalid(exc.errors)
    except Conflict:
        raise HTTPException(409, f"Mã mục {payload.get('id')} đã có; hãy sửa mục đó hoặc chọn mã khác.") from None


@router.put("/entries/{entry_id}", summary="Save a draft of an entry (send the version you edited)")
def update_entry(entry_id: str, who: Editor, svc: Service, payload: Annotated[dict[str, Any], Body()],
                 partial: Annotated[bool, Query(description="keep an inbox draft that does not validate yet")] = False):
    body = {k: v for k, v in payload.items() if k not in SERVER_FIELDS}
    version = payload.get("version")
    if not isinstance(version, str) or not version:
        return invalid([{"field": "version", "message": "version: cần gửi kèm phiên bản bạn đang sửa"}])
    try:
        return svc.update(entry_id, body, version, who)
    except InvalidEntry as exc:
        if partial:
            try:
                saved = svc.save_incomplete(entry_id, body, version, who)
                return JSONResponse(saved, status_code=200)
            except NotFound:
                pass
            except Conflict:
                raise conflict(entry_id) from None
        return invalid(exc.errors)
    except Conflict:
        raise conflict(entry_id) from None
    except NotFound:
        raise not_found(f"mục {entry_id}") from None


@router.delete("/entries/{entry_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Discard the draft of an entry")
def delete_draft(entry_id: str, who: Editor, svc: Service, version: str | None = None) -> Response:
    try:
        svc.discard(entry_id, who, version)
    except NotFound:
        raise not_found(f"bản nháp của {entry_id}") from None
    except Conflict:
        raise conflict(entry_id) from None
    return Response(status_code=204)


@router.post("/validate", summary="Live validation of an unsaved entry")
def validate_entry(who: Editor, svc: Service, payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return svc.check(payload)


@router.get("/diff", summary="Pending drafts against the published text, or two versions")
def diff(who: Editor, svc: Service, entry_id: str | None = None, from_version: Annotated[str | None, Query(alias="from")] = None,
         to_version: Annotated[str | None, Query(alias="to")] = None) -> dict[str, Any]:
    if from_version or to_version:
        if not (from_version and to_version):
            raise HTTPException(422, "Cần cả hai tham số from và to.")
        try:
            return {"from": from_version, "to": to_version, "diff": svc.version_diff(from_version, to_version)}
        except (NotFound, ValueError):
            raise not_found("phiên bản") from None
    changes = [{"id": d["entry_id"], "kind": d["kind"], "complete": d["complete"], "updated_by": d["updated_by"],
                "updated_at": d["updated_at"], "diff": d["diff"]} for d in svc.pending(entry_id)]
    return {"count": len(changes), "changes": changes}


@router.post("/preview-audio", summary="The spoken answer as audio (WAV), for the editor's preview")
def preview_audio(request: Request, who: Editor, payload: Annotated[dict[str, Any], Body()]) -> Response:
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise HTTPException(422, "Thiếu nội dung cần đọc (text).")
    if len(text) > MAX_PREVIEW_CHARS:
        raise HTTPException(422, f"Nội dung cần đọc dài quá {MAX_PREVIEW_CHARS} ký tự.")
    try:
        wav = render_preview_wav(text.strip(), request.app.state.assistant.settings)
    except VoiceUnavailable as exc:
        raise HTTPException(503, f"Chưa có bộ đọc giọng nói trên máy chủ ({exc}).") from None
    except AssistantError as exc:  # e.g. voice.tts.SynthesisError: no engine, text it cannot speak
        raise HTTPException(503, f"Không đọc được câu trả lời nói: {exc}") from None
    return Response(wav, media_type="audio/wav", headers={"Cache-Control": "no-store"})


@router.get("/documents", summary="The legal-document registry with statuses")
def documents(who: Editor, svc: Service) -> dict[str, Any]:
    docs = svc.published().documents
    return {"documents": [d.model_dump(mode="json") for d in sorted(docs.values(), key=lambda d: d.number)]}


@router.get("/currency", summary="Entries citing superseded or expired law")
def currency(who: Editor, svc: Service) -> dict[str, Any]:
    corpus = svc.published()
    found = report(corpus.entries, corpus.documents)
    return {"count": len(found), "stale": sum(any(f.stale for f in fl) for fl in found.values()),
            "entries": {k: [f.as_dict() for f in v] for k, v in sorted(found.items())}}
