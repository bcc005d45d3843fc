"""What the SIP agent may write in its log about a caller (no personal data at INFO).

- A SIP Call-ID often carries the caller's host or a device identifier: the log shows :func:`call_ref`,
  a short hash of it (``sha256(Call-ID)[:10]``). The call record keeps the full Call-ID as
  ``external_id``, so an operator who has the database finds a logged call with
  ``call_ref(external_id)``.
- A caller URI often carries the phone number (``sip:0912345678@trunk``) and a display name: the log
  shows :func:`mask_uri`, i.e. the URI without the display name, passed through
  :func:`assistant.privacy.mask_pii` and with any other long digit run masked the same way.
- DTMF digits (a caller may key in an ID number one digit at a time) are logged at DEBUG only.
"""

from __future__ import annotations

import hashlib
import re

from assistant.privacy import mask_pii

_LONG_DIGITS = re.compile(r"\+?\d(?:[\s.-]?\d){5,}")


def call_ref(call_id: str) -> str:
    """A short, stable, non-reversible tag of a SIP Call-ID for log lines."""
    return hashlib.sha256(call_id.encode("utf-8", "replace")).hexdigest()[:10]


def mask_uri(uri: str | None) -> str:
    """``"Nguyễn A" <sip:0912345678@trunk>;tag=x`` → ``sip:[SĐT ***78]@trunk``."""
    if not uri:
        return "-"
    m = re.search(r"<([^>]*)>", uri)
    bare = (m.group(1) if m else uri.split(";", 1)[0]).strip()
    scheme, colon, rest = bare.partition(":")
    if not colon:
        scheme, rest = "", bare
    user, at, host = rest.rpartition("@")
    if not at:  # tel:NUMBER is all user part; sip:HOST has none
        user, host = (rest, "") if scheme.lower() in ("tel", "") else ("", rest)

    def tail(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return f"[***{digits[-2:]}]"

    user = _LONG_DIGITS.sub(tail, mask_pii(user))
    return f"{scheme}{colon}{user}{at}{host}"
