"""Retrieval-only dialogue: one turn = context rewrite, engine answer, human hand-off.

This is the backend the chat API (and later the voice loop) uses when Rasa is not running.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.dialogue.context import Turn, is_follow_up, rewrite, wants_human
from assistant.privacy import mask_pii
from assistant.qa.engine import QAEngine
from assistant.qa.schemas import Answer

HANDOFF_REPLY = ("Mình đã ghi nhận yêu cầu gặp cán bộ. Cán bộ sẽ liên hệ với bạn trong giờ hành chính; "
                 "bạn có thể tiếp tục đặt câu hỏi trong lúc chờ. Nếu việc khẩn cấp, hãy gọi 113.")
SHORT_FOLLOW_UP_WORDS = 5


@dataclass
class TurnResult:
    answer: Answer
    handoff: bool
    context: dict[str, Any] = field(default_factory=dict)
    rewritten: str | None = None
    #: feedback typed into the conversation, ``{"rating": 1 | -1, "comment": str}`` (Rasa's ``action_feedback``)
    feedback: dict[str, Any] | None = None


class RetrievalDialogue:
    """Answers each message with the engine, using the previous answered turn for follow-ups."""

    name = "retrieval"

    def __init__(self, engine: QAEngine):
        self.engine = engine

    def respond(self, message: str, context: dict[str, Any] | None = None) -> TurnResult:
        context = dict(context or {})
        if self.engine.check_input(message) is None and wants_human(message):
            answer = Answer(question=message, abstained=True, topic=None, answer=HANDOFF_REPLY,
                            spoken_answer=HANDOFF_REPLY, citations=[], results=[], confidence=1.0,
                            reason="handoff", handoff_offered=True)
            return TurnResult(answer, True, context)
        last = context.get("last")
        previous = Turn(**last) if isinstance(last, dict) else None
        answer = self.engine.answer(message)
        rewritten = None
        follow_up = is_follow_up(message)
        short = len(message.split()) <= SHORT_FOLLOW_UP_WORDS
        if previous and answer.reason != "invalid_input" and (follow_up or (short and answer.abstained)):
            rewritten = rewrite(message, previous)
            if rewritten:
                contextual = self.engine.answer(rewritten)
                if not contextual.abstained and (follow_up or answer.abstained
                                                 or contextual.confidence > answer.confidence):
                    contextual.question = message
                    answer = contextual
                else:
                    rewritten = None
        if not answer.abstained:
            asked = rewritten or message
            context["last"] = asdict(Turn(mask_pii(asked), answer.topic, answer.entry_id))
        return TurnResult(answer, False, context, rewritten)
