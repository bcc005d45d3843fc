"""Feedback a citizen types into the conversation ("câu trả lời này sai", "rất dễ hiểu").

Rasa recognises the ``give_feedback`` intent; ``action_feedback`` (:mod:`assistant.dialogue.rasa_actions`)
thanks the citizen and attaches ``{"rating": 1 | -1, "comment": text}`` to its payload, and the chat API
records it as feedback on the assistant's previous answer, exactly like a thumbs up or down in the
widget, so complaints reach the editors' unanswered inbox.

The rating comes from a small lexicon over the accent-folded text: praise ("trả lời hay", "hữu ích",
"dễ hiểu", "5 sao") is +1 unless negated ("không hài lòng", "chưa rõ ràng"); anything else (complaints,
corrections, suggestions such as "nên ghi rõ lệ phí") is -1, because it asks an editor to look at the
answer. No sentiment model ships offline for Vietnamese (underthesea's downloads one).
"""

from __future__ import annotations

import re

from assistant.text.normalize import fold

#: praise, as folded words
_PRAISE = (r"hay (?:qua|lam|that|ghe|do)", r"hay$", r"(?:tra loi|cau tra loi|bot) (?:rat |kha |that )?hay", r"huu ich", r"hai long", r"tot", r"ro rang", r"de hieu", r"chinh xac", r"dung roi",
           r"chuan", r"tuyet(?: voi)?", r"nhanh", r"chi tiet", r"day du", r"[45] sao", r"cam on")
#: words that turn the praise after them into a complaint
_NEGATION = r"(?:khong|ko|chua|cha|kem|it|thieu)"
#: complaints that hold whatever praise surrounds them
_COMPLAINT = (r"sai", r"nham", r"thieu", r"cu roi", r"loi thoi", r"[123] sao", r"kho hieu", r"dai qua",
              r"nhu khong tra loi", r"khong lien quan", r"lac de", r"vo ich",
              r"gop y", r"de nghi", r"nen (?:ghi|them|bo|noi|sua|co|viet|neu|cap nhat|huong dan)")
_PRAISE_RE = re.compile(r"\b(?:" + "|".join(_PRAISE) + r")\b")
_NEGATED_RE = re.compile(r"\b" + _NEGATION + r"(?: (?:\w+)){0,2} (?:" + "|".join(_PRAISE) + r")\b")
_COMPLAINT_RE = re.compile(r"\b(?:" + "|".join(_COMPLAINT) + r")\b")
_NOT_WRONG_RE = re.compile(r"\b(?:khong|ko) (?:sai|nham)\b")

THANKS_PRAISE = "Cảm ơn bạn! Mình rất vui vì câu trả lời có ích. Bạn cần hỏi thêm thủ tục nào nữa không?"
THANKS_COMPLAINT = ("Cảm ơn bạn đã góp ý. Ý kiến của bạn đã được ghi lại kèm câu trả lời vừa rồi để cán bộ "
                    "biên tập kiểm tra và sửa. Nếu cần gấp, bạn có thể yêu cầu gặp cán bộ.")


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", fold(text or "")).split())


def rating(text: str) -> int:
    """``1`` for praise, ``-1`` for a complaint, a correction or a suggestion."""
    words = _words(text)
    complaint = _COMPLAINT_RE.search(_NOT_WRONG_RE.sub(" ", words)) is not None
    if complaint or _NEGATED_RE.search(words):
        return -1
    return 1 if _PRAISE_RE.search(words) or _NOT_WRONG_RE.search(words) else -1


def thanks(value: int) -> str:
    """What the assistant says back."""
    return THANKS_PRAISE if value > 0 else THANKS_COMPLAINT
