"""Normalisation against real-world spelling variants of the same question."""

import unicodedata

import pytest

from assistant.text import fold, has_letters, lexical_terms, normalize, place_tones, strip_accents

SAME = [
    # old / new tone placement
    ("Hoà giải", "Hòa giải"),
    ("thuỷ sản", "thủy sản"),
    ("khoẻ", "khỏe"),
    ("qúy khách", "quý khách"),
    ("hoá đơn", "hóa đơn"),
    # decomposed (NFD) input, as some keyboards and PDFs produce
    (unicodedata.normalize("NFD", "Đăng ký tạm trú"), "đăng ký tạm trú"),
    # look-alike Ð (U+00D0) for Đ
    ("Ðăng ký thường trú", "đăng ký thường trú"),
    # case and punctuation
    ("ĐĂNG KÝ TẠM TRÚ???", "đăng ký tạm trú"),
    ("làm   căn cước,ở đâu!", "làm căn cước ở đâu"),
    # abbreviations and chat spelling
    ("Làm CCCD ở đâu", "làm căn cước công dân ở đâu"),
    ("mất cmnd thì sao", "mất chứng minh nhân dân thì sao"),
    ("GPLX hết hạn", "giấy phép lái xe hết hạn"),
    ("đổi bằng lái ntn", "đổi bằng lái như thế nào"),
    ("có dc ko", "có được không"),
    ("có đc k", "có được không"),
    ("hok biết", "không biết"),
    ("cần giấy tờ j", "cần giấy tờ gì"),
    ("dk tạm trú", "đăng ký tạm trú"),
    ("lệ phí bn tiền", "lệ phí bao nhiêu tiền"),
    ("tải VNeID", "tải vneid"),
    ("cho sdt", "cho số điện thoại"),
    # numbers and dates
    ("từ 01/07/2025", "từ 1/7/2025"),
    ("từ ngày 1 tháng 7 năm 2025", "từ 1/7/2025"),
    ("1-7-2025", "1/7/2025"),
    ("phí 15.000đ", "phí 15000 đồng"),
    ("phí 15k", "phí 15000"),
    ("phạt 2tr", "phạt 2 triệu"),
    ("03 ngày làm việc", "3 ngày làm việc"),
]


@pytest.mark.parametrize(("variant", "canonical"), SAME)
def test_variants_normalise_to_one_form(variant, canonical):
    assert normalize(variant) == normalize(canonical)
    assert normalize(variant) == canonical.lower()


@pytest.mark.parametrize(
    ("typed", "accented"),
    [
        ("lam cccd o dau", "Làm CCCD ở đâu?"),
        ("dang ky tam tru can giay to gi", "Đăng ký tạm trú cần giấy tờ gì?"),
        ("doi gplx het han", "Đổi GPLX hết hạn"),
        ("ly lich tu phap so 2", "Lý lịch tư pháp số 2"),
        ("ho chieu gan chip", "Hộ chiếu gắn chíp"),
    ],
)
def test_unaccented_typing_folds_like_accented(typed, accented):
    assert fold(typed) == fold(accented)


def test_tone_placement_keeps_letters_and_tone():
    for word in ["người", "quốc", "già", "giữ", "khuya", "ngoài", "thuyền", "của", "mùa", "hoàng", "tuổi"]:
        assert place_tones(word) == word
    assert strip_accents(place_tones("hoà")) == "hoa"


def test_lexical_terms_have_syllables_and_bigrams():
    assert lexical_terms("Đăng ký tạm trú") == ["dang", "ky", "tam", "tru", "dang_ky", "ky_tam", "tam_tru"]


@pytest.mark.parametrize("text", ["😀😀", "...", "   ", "?!"])
def test_no_letters(text):
    assert not has_letters(text)
    assert normalize(text) == ""


def test_licence_classes_are_not_expanded():
    assert normalize("bằng A1 và B") == "bằng a1 và b"
