"""``/api/v1/chat``, ``/api/v1/feedback``, ``/api/v1/sessions/{id}``."""

from __future__ import annotations

import json
import logging
import time

from fastapi import APIRouter, HTTPException, status

from assistant.api.deps import ReadyStateDep
from assistant.api.schemas import (
    ChatRequest,
    ChatResponse,
    CitationOut,
    FeedbackRequest,
    FeedbackResponse,
    MessageOut,
    SessionOut,
)
from assistant.privacy import mask_pii
from assistant.qa import replies
from assistant.text import clean

router = APIRouter(tags=["chat"])
log = logging.getLogger("assistant.api.chat")


def _citations(state, answer) -> list[CitationOut]:
    """Structured citations; the title is a law's name, or the kind of a lower-level document."""
    docs = state.engine.corpus.documents

    def title(number: str) -> str | None:
        doc = docs.get(number)
        if doc is None:
            return None
        return doc.title if doc.type == "Luật" else doc.type

    return [CitationOut(document=c.document, article=c.article, title=title(c.document)) for c in answer.citations]


def _reply(state, answer) -> str:
    """The answer without its closing legal-basis line: the API carries citations as data."""
    if not answer.entry_id:
        return answer.answer
    try:
        entry = state.engine.corpus.entry(answer.entry_id)
    except KeyError:  # the engine was swapped for a newer version during this turn (editor publish)
        return answer.answer
    line = replies.legal_basis_line(entry, state.engine.corpus.documents)
    return answer.answer.replace("\n\n" + line, "", 1)


def _record_feedback(state, session_id: str, reply_id: str, feedback: dict) -> None:
    """Feedback typed into the chat counts like a thumbs up/down on the answer it is about: the latest
    answer of the session (not a greeting or a prompt), or this reply when there is none."""
    target = state.store.last_answer_id(session_id, before=reply_id) or reply_id
    state.store.add_feedback(target, feedback["rating"], feedback.get("comment"))
    state.metrics.feedback.labels("up" if feedback["rating"] == 1 else "down").inc()


@router.post("/chat", response_model=ChatResponse, summary="Send a message, get the assistant's reply")
def post_chat(body: ChatRequest, state: ReadyStateDep) -> ChatResponse:
    limit = state.settings.max_question_chars
    if len(body.message) > limit:
        raise HTTPException(422, f"Tin nhắn dài quá {limit} ký tự. Bạn hãy rút gọn câu hỏi nhé.")
    if not clean(body.message):
        raise HTTPException(422, "Tin nhắn trống. Bạn hãy nhập câu hỏi.")
    store = state.store
    session = store.get_session(body.session_id, with_messages=False) if body.session_id else None
    session_id = session.id if session else store.create_session()
    context = store.get_context(session_id)
    store.add_message(session_id, "user", body.message)
    started = time.perf_counter()
    turn = state.dialogue.respond(body.message, context, session_id)
    elapsed = time.perf_counter() - started
    answer = turn.answer
    citations = _citations(state, answer)
    reply = _reply(state, answer)
    saved = store.add_message(session_id, "assistant", reply, topic=answer.topic, entry_id=answer.entry_id,
                              abstained=answer.abstained, reason=answer.reason, confidence=answer.confidence,
                              citations=[c.model_dump() for c in citations])
    store.set_context(session_id, turn.context)
    if turn.feedback is not None:
        _record_feedback(state, session_id, saved.id, turn.feedback)
    if turn.handoff:
        store.set_handoff(session_id, True)
    m = state.metrics
    m.answer_latency.observe(elapsed)
    m.turns.labels(answer.reason, answer.topic or "none").inc()
    if answer.abstained:
        m.declined.labels(answer.reason).inc()
    log.info("turn session=%s topic=%s entry=%s reason=%s conf=%.2f %.0fms q=%s", session_id[:8], answer.topic,
             answer.entry_id, answer.reason, answer.confidence, elapsed * 1000, json.dumps(mask_pii(body.message)[:200],
                                                                                       ensure_ascii=False))
    handoff = turn.handoff or (session.handoff if session else False)
    return ChatResponse(session_id=session_id, message_id=saved.id, reply=reply, citations=citations,
                        topic=answer.topic, abstained=answer.abstained, handoff=handoff,
                        suggestions=answer.suggestions)


@router.post("/feedback", status_code=status.HTTP_201_CREATED, response_model=FeedbackResponse,
             summary="Rate an assistant message (1 useful, -1 not useful)")
def post_feedback(body: FeedbackRequest, state: ReadyStateDep) -> FeedbackResponse:
    message = state.store.get_message(body.message_id)
    if message is None or message.role != "assistant":
        raise HTTPException(404, "Không tìm thấy câu trả lời cần đánh giá.")
    saved = state.store.add_feedback(body.message_id, body.rating, body.comment)
    state.metrics.feedback.labels("up" if body.rating == 1 else "down").inc()
    return FeedbackResponse(feedback_id=saved.id, message_id=body.message_id)


@router.get("/sessions/{session_id}", response_model=SessionOut, summary="Messages of a session")
def get_session(session_id: str, state: ReadyStateDep) -> SessionOut:
    session = state.store.get_session(session_id)
    if session is None:
        raise HTTPException(404, "Không tìm thấy phiên trò chuyện.")
    return SessionOut(session_id=session.id, handoff=session.handoff, messages=[
        MessageOut(message_id=m.id, role=m.role, text=m.text, created_at=m.created_at.isoformat(),
                   citations=[CitationOut(**c) for c in (m.citations or [])], topic=m.topic, abstained=m.abstained)
        for m in session.messages])
