"""Follow-up rewriting and hand-off detection (no model needed)."""

import pytest

from assistant.dialogue.context import Turn, is_follow_up, rewrite, wants_human

PREV = Turn("Đăng ký thường trú cần giấy tờ gì?", "cu_tru", "cu_tru_dang_ky_thuong_tru")


@pytest.mark.parametrize("q", ["còn tạm trú thì sao?", "con tam tru thi sao", "Thế còn tạm trú?"])
def test_sibling_subject_is_swapped(q):
    assert is_follow_up(q)
    assert rewrite(q, PREV) == "dang ky tam tru can giay to gi"


def test_other_follow_up_is_appended():
    prev = Turn("làm căn cước ở đâu", "can_cuoc", None)
    assert rewrite("thế còn cho con tôi?", prev) == "lam can cuoc o dau cho con toi"


def test_vehicle_swap():
    prev = Turn("sang tên xe máy cần gì", "dang_ky_xe", None)
    assert rewrite("còn ô tô thì sao", prev) == "sang ten o to can gi"


def test_no_previous_turn():
    assert rewrite("còn tạm trú thì sao", None) is None


def test_standalone_questions_are_not_follow_ups():
    assert not is_follow_up("Đăng ký tạm trú cần giấy tờ gì?")


@pytest.mark.parametrize(("q", "expected"), [
    ("cho tôi gặp cán bộ", True),
    ("toi muon noi chuyen voi nguoi that", True),
    ("chuyển máy cho nhân viên", True),
    ("gặp cán bộ ở đâu để làm căn cước", False),
    ("làm căn cước ở đâu", False),
])
def test_wants_human(q, expected):
    assert wants_human(q) is expected
