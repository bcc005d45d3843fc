"""Mask personal numbers before text is logged or stored.

Citizens paste their personal ID number (12 digits), old ID-card number (9 digits), passport number
(a letter and 7 digits) or phone number (0xxxxxxxxx, +84…) into questions. The product never needs
them, so they are replaced by a placeholder keeping only the last two digits, e.g.
``0912345678`` → ``[SĐT ***78]``, also when the digits are grouped as a caller reads them out
(``079 203 001 234``). Dates, fees and legal document numbers (``68/2020/QH14``) are kept.
"""

from __future__ import annotations

import logging
import re

_PHONE = re.compile(r"(?<![\w/.,])(?:\+?84|0)(?:[\s.-]?\d){8,10}(?![\w/])")
_ID12 = re.compile(r"(?<![\w/.,])\d{12}(?![\w/])")
_ID9 = re.compile(r"(?<![\w/.,])\d{9}(?![\w/])")
# Read out on the phone, numbers come back from speech recognition grouped ("079 203 001 234",
# "0 7 9 …"): 12 digits joined by single spaces or hyphens (not dots: "2.000.000" is an amount), or an
# old ID-card number as 3-3-3.
_ID12_GROUPED = re.compile(r"(?<![\w/.,])\d(?:[ -]?\d){11}(?![\w/])")
_ID9_GROUPED = re.compile(r"(?<![\w/.,])\d{3}([ -])\d{3}\1\d{3}(?![\w/])")
_PASSPORT = re.compile(r"(?<![\w/])[A-Za-z]\d{7}(?![\w/])")


def _tail(label: str):
    def repl(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return f"[{label} ***{digits[-2:]}]"
    return repl


def mask_pii(text: str) -> str:
    """Replace ID, passport and phone numbers in ``text`` by masked placeholders."""
    if not text:
        return text
    text = _ID12.sub(_tail("SỐ ĐỊNH DANH"), text)
    text = _ID12_GROUPED.sub(_tail("SỐ ĐỊNH DANH"), text)
    text = _PHONE.sub(_tail("SĐT"), text)
    text = _ID9.sub(_tail("SỐ CMND"), text)
    text = _ID9_GROUPED.sub(_tail("SỐ CMND"), text)
    return _PASSPORT.sub(_tail("HỘ CHIẾU"), text)


class MaskingFilter(logging.Filter):
    """A logging filter that masks personal numbers in every record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = record.getMessage()
            except (TypeError, ValueError):
                record.msg = str(record.msg)
            record.args = None
        record.msg = mask_pii(str(record.msg))
        return True
