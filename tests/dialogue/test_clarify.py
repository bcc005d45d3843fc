"""Clarifying questions for under-specified procedure questions (pure functions, no Rasa, no engine)."""

from __future__ import annotations

import pytest

from assistant.dialogue.clarify import (
    CAP_DOI,
    CAP_LAI,
    GIA_HAN,
    LAN_DAU,
    PROCEDURES,
    clarification_for,
    find_action,
    find_procedure,
    is_affirm_or_deny,
    resolve_reply,
)


@pytest.mark.parametrize(("text", "procedure"), [
    ("làm căn cước", "can_cuoc"),
    ("Làm CCCD", "can_cuoc"),
    ("căn cước", "can_cuoc"),
    ("lam can cuoc", "can_cuoc"),
    ("tôi muốn làm căn cước", "can_cuoc"),
    ("hồ sơ làm thẻ căn cước", "can_cuoc"),
    ("làm căn cước thế nào ạ?", "can_cuoc"),
    ("thủ tục hộ chiếu", "ho_chieu"),
    ("làm hộ chiếu", "ho_chieu"),
    ("bằng lái", "giay_phep_lai_xe"),
    ("GPLX", "giay_phep_lai_xe"),
    ("bằng lái xe máy", "giay_phep_lai_xe"),
    ("đăng ký xe", "dang_ky_xe"),
    ("đăng ký xe ô tô", "dang_ky_xe"),
])
def test_procedure_without_action_gets_a_clarifying_question(text, procedure):
    c = clarification_for(text)
    assert c is not None and c.procedure == procedure
    assert c.question.startswith("Bạn muốn") and c.question.endswith("?")
    assert "lần đầu" in c.question and "cấp đổi" in c.question and "cấp lại" in c.question
    assert [b["title"] for b in c.buttons] == ["Cấp lần đầu", "Cấp đổi", "Cấp lại"]
    assert c.suggestions == [b["payload"] for b in c.buttons]
    # every option (a button's payload) is a question of its own, answered as it is
    for option in c.suggestions:
        assert find_action(option) is not None
        assert clarification_for(option) is None
        assert resolve_reply(text, option) == option


@pytest.mark.parametrize("text", [
    "cấp lại căn cước",             # action given
    "đổi bằng lái",
    "làm hộ chiếu lần đầu",
    "mất đăng ký xe",
    "gia hạn hộ chiếu",
    "lệ phí căn cước",              # a specific question the engine has an entry for
    "căn cước điện tử",
    "làm căn cước ở đâu",
    "hộ chiếu trẻ em",
    "làm căn cước cho con",
    "làm hộ chiếu và căn cước",     # two procedures
    "đăng ký thường trú",           # a procedure without such variants
    "tôi muốn biết thủ tục làm thẻ căn cước cho người mới đủ 14 tuổi",  # long
    "xin chào",
    "",
    "/affirm",
])
def test_specific_or_unrelated_messages_are_not_clarified(text):
    assert clarification_for(text) is None


def test_topics_are_corpus_topics():
    assert {p.topic for p in PROCEDURES} == {"can_cuoc", "xuat_nhap_canh", "giay_phep_lai_xe", "dang_ky_xe"}


@pytest.mark.parametrize(("text", "action"), [
    ("lần đầu", LAN_DAU), ("cấp mới", LAN_DAU), ("chưa có", LAN_DAU),
    ("cấp đổi", CAP_DOI), ("đổi", CAP_DOI), ("sắp hết hạn", CAP_DOI),
    ("cấp lại", CAP_LAI), ("làm lại", CAP_LAI), ("bị mất", CAP_LAI), ("hư hỏng", CAP_LAI),
    ("gia hạn", GIA_HAN), ("cap lai", CAP_LAI),
    ("lệ phí", None),
])
def test_find_action(text, action):
    assert find_action(text) == action


@pytest.mark.parametrize(("pending", "reply", "question"), [
    ("làm căn cước", "cấp lại", "Cấp lại thẻ căn cước"),
    ("làm căn cước", "bị mất rồi", "Cấp lại thẻ căn cước"),
    ("làm CCCD", "lần đầu", "Cấp thẻ căn cước lần đầu"),
    ("hộ chiếu", "đổi", "Cấp đổi hộ chiếu"),
    ("bằng lái", "làm lại", "Cấp lại giấy phép lái xe bị mất"),
    ("đăng ký xe", "cấp mới", "Đăng ký xe lần đầu"),
    # a button payload is already a whole question
    ("làm căn cước", "Cấp đổi thẻ căn cước", "Cấp đổi thẻ căn cước"),
    # yes / no / intent payloads keep the pending question
    ("làm căn cước", "vâng ạ", "làm căn cước"),
    ("làm căn cước", "có", "làm căn cước"),
    ("làm căn cước", "không", "làm căn cước"),
    ("làm căn cước", "/affirm", "làm căn cước"),
    ("làm căn cước", "", "làm căn cước"),
    # a short detail is added; a new procedure or a long message is a new question
    ("làm căn cước", "cho con 10 tuổi", "làm căn cước cho con 10 tuổi"),
    ("làm căn cước", "làm hộ chiếu", "làm hộ chiếu"),
    ("làm căn cước", "mức phạt khi không mang giấy tờ lúc công an kiểm tra là bao nhiêu",
     "mức phạt khi không mang giấy tờ lúc công an kiểm tra là bao nhiêu"),
])
def test_resolve_reply(pending, reply, question):
    assert resolve_reply(pending, reply) == question


def test_affirm_or_deny():
    assert is_affirm_or_deny("dạ vâng")
    assert is_affirm_or_deny("Không ạ")
    assert not is_affirm_or_deny("cấp lại")
    assert not is_affirm_or_deny("")


def test_find_procedure():
    assert find_procedure("Làm lại CCCD bị mất").code == "can_cuoc"
    assert find_procedure("cà vẹt xe máy").code == "dang_ky_xe"
    assert find_procedure("hộ chiếu và căn cước") is None  # two procedures: not one to clarify
    assert find_procedure("đăng ký tạm trú") is None
