"""The rating given to feedback typed into the chat (``assistant.dialogue.feedback``)."""

from __future__ import annotations

import pytest

from assistant.dialogue.feedback import THANKS_COMPLAINT, THANKS_PRAISE, rating, thanks

COMPLAINTS = [
    "câu trả lời này sai",
    "tra loi sai roi",
    "thông tin không chính xác",
    "không hài lòng với câu trả lời",
    "chưa rõ ràng lắm",
    "ko huu ich gi ca",
    "phí ghi nhầm rồi",
    "thiếu mẫu tờ khai CT01",
    "luật đổi rồi, thông tin cũ rồi",
    "khó hiểu quá",
    "đánh giá 1 sao",
    "góp ý: nên ghi rõ nộp online hay trực tiếp",  # a suggestion asks an editor to look: "hay" here is "or"
    "nên thêm hướng dẫn trên VNeID",
    "rất hay nhưng sai lệ phí",  # a complaint outweighs the praise around it
]
PRAISE = [
    "trả lời hay lắm",
    "câu trả lời rất hữu ích",
    "rat de hieu, cam on",
    "tôi hài lòng",
    "đánh giá 5 sao",
    "câu trả lời chính xác",
    "không sai chút nào",
]


@pytest.mark.parametrize("text", COMPLAINTS)
def test_complaints_corrections_and_suggestions_are_thumbs_down(text):
    assert rating(text) == -1


@pytest.mark.parametrize("text", PRAISE)
def test_praise_is_thumbs_up(text):
    assert rating(text) == 1


def test_the_reply_matches_the_rating():
    assert thanks(1) == THANKS_PRAISE and thanks(-1) == THANKS_COMPLAINT != THANKS_PRAISE
