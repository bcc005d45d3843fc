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
])
def test_personal_numbers_are_masked(text, secret):
    masked = mask_pii(text)
    assert secret not in masked and "***" in masked


@pytest.mark.parametrize("text", [
    "theo Luật 68/2020/QH14 từ 1/7/2025",
    "lệ phí 15000 đồng, phạt 2.000.000 đồng",
    "năm 2026, 12 điểm, 03 ngày làm việc",
])
def test_other_numbers_are_kept(text):
    assert mask_pii(text) == text


def test_logging_filter_masks_arguments(caplog):
    logger = logging.getLogger("assistant.test.masking")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="assistant.test.masking"):
        logger.info("question %s", "CCCD 001203004567")
    assert "001203004567" not in caplog.text and "***67" in caplog.text
