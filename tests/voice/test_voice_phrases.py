"""What the call recognises by itself: yes / no after "Bạn hỏi về … phải không?", and goodbye."""

from __future__ import annotations

import pytest

from assistant.text.normalize import fold
from voice.call.phrases import is_goodbye, is_no, is_yes

YES = ["Có", "Có ạ.", "Dạ có", "Đúng", "Đúng rồi.", "Đúng vậy", "Phải", "Phải rồi ạ", "Vâng", "Vâng ạ.", "Dạ",
       "Dạ vâng, đúng rồi ạ", "Ừ", "Ừ, đúng", "Ok", "Được", "Chính xác", "Có, đúng rồi"]
NO = ["Không", "Không ạ.", "Không phải", "Không đúng", "Dạ không", "Dạ, không phải.", "Vâng, không đúng",
      "Ừ không", "Ừ, không phải đâu", "Sai rồi", "Chưa đúng", "Nhầm rồi", "Không, tôi hỏi về hộ chiếu"]
NEITHER = ["", "À", "Đúng không?", "Có phải không?", "Phải không ạ", "Dạ, cho tôi hỏi về đăng ký xe",
           "Vâng, tôi muốn hỏi về hộ chiếu", "Có, không phải", "Làm hộ chiếu ở đâu?"]


@pytest.mark.parametrize("text", YES)
@pytest.mark.parametrize("accents", [True, False])
def test_yes(text, accents):
    text = text if accents else fold(text)
    assert is_yes(text) and not is_no(text)


@pytest.mark.parametrize("text", NO)
@pytest.mark.parametrize("accents", [True, False])
def test_no(text, accents):
    text = text if accents else fold(text)
    assert is_no(text) and not is_yes(text)


@pytest.mark.parametrize("text", NEITHER)
@pytest.mark.parametrize("accents", [True, False])
def test_neither_yes_nor_no(text, accents):
    text = text if accents else fold(text)
    assert not is_yes(text) and not is_no(text)


def test_goodbye():
    assert is_goodbye("Thôi, tạm biệt nhé.") and is_goodbye("tam biet") and is_goodbye("Tôi không còn câu hỏi nào")
    assert not is_goodbye("Cho tôi hỏi thủ tục tạm biệt hộ khẩu khi đi nước ngoài thì làm thế nào ở đâu vậy")
