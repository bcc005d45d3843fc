"""Personal numbers are masked; legal numbers, dates and fees are kept."""

import logging

import pytest

from assistant.privacy import MaskingFilter, mask_pii


@pytest.mark.parametrize(("text", "secret"), [
    ("số CCCD 001203004567 của tôi", "001203004567"),
    ("CMND cũ 123456789", "123456789"),
    ("gọi 0912345678 nhé", "0912345678"),
    ("số 0912.345.678", "0912.345.678"),
    ("hotline +84 912 345 678", "+84 912 345 678"),
    ("hộ chiếu số C1234567", "C1234567"),
    # read out on the phone, as speech recognition writes them
    ("số căn cước 079 203 001 234 ạ", "203 001"),
    ("căn cước 079-203-001-234", "203-001"),
    ("số định danh 0792 0300 1234", "0300"),
    ("số 0 7 9 2 0 3 0 0 1 2 3 4", "0 0 1 2"),
    ("CMND 123 456 789", "456"),
    ("gọi 0 9 1 2 3 4 5 6 7 8", "3 4 5 6"),
])
def test_personal_numbers_are_masked(text, secret):
    masked = mask_pii(text)
    assert secret not in masked and "***" in masked


@pytest.mark.parametrize("text", [
    "theo Luật 68/2020/QH14 từ 1/7/2025",
    "lệ phí 15000 đồng, phạt 2.000.000 đồng",
    "năm 2026, 12 điểm, 03 ngày làm việc",
    "các mức 200.000 300.000 100.000 đồng",
    "phạt từ 4.000.000 đến 6.000.000 đồng",
])
def test_other_numbers_are_kept(text):
    assert mask_pii(text) == text


def test_logging_filter_masks_arguments(caplog):
    logger = logging.getLogger("assistant.test.masking")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="assistant.test.masking"):
        logger.info("question %s", "CCCD 001203004567")
    assert "001203004567" not in caplog.text and "***67" in caplog.text


def test_grouped_id_number_is_masked_whole():
    assert mask_pii("số căn cước 079 203 001 234 ạ") == "số căn cước [SỐ ĐỊNH DANH ***34] ạ"
