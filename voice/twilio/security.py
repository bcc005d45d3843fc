"""Trust for Twilio traffic: webhook signatures and one-time stream tokens.

* Webhooks carry ``X-Twilio-Signature``; :func:`signature_ok` checks it with the twilio library's
  ``RequestValidator`` against the URL Twilio called: ``ASSISTANT_PUBLIC_URL`` + path (+ query), never the
  local address (a proxy or tunnel sits in between).
* The Media Streams ``start`` message is not signed, so the signed ``incoming`` webhook hands out a
  token (a ``<Parameter>`` of the ``<Stream>``): ``expiry.nonce.hmac(auth token, call sid, expiry,
  nonce)``. The stream is accepted only with a valid, unexpired token for the same call sid, once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from twilio.request_validator import RequestValidator

TOKEN_TTL_S = 120


def public_url_for(public_url: str, path: str, query: str = "") -> str:
    url = public_url.rstrip("/") + path
    return f"{url}?{query}" if query else url


def signature_ok(auth_token: str, url: str, params: dict[str, str], signature: str | None) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio would send (used by ``call-sim`` and tests)."""
    return RequestValidator(auth_token).compute_signature(url, params)


class StreamTokens:
    """Issues and redeems one-time tokens binding a stream to a signed ``incoming`` webhook."""

    def __init__(self, secret: str, ttl_s: float = TOKEN_TTL_S):
        self._key = hashlib.sha256(b"stream-token\0" + secret.encode()).digest()
        self.ttl_s = ttl_s
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def _mac(self, call_sid: str, expiry: str, nonce: str) -> str:
        return hmac.new(self._key, f"{call_sid}|{expiry}|{nonce}".encode(), hashlib.sha256).hexdigest()

    def issue(self, call_sid: str) -> str:
        expiry, nonce = str(int(time.time() + self.ttl_s)), secrets.token_hex(12)
        return f"{expiry}.{nonce}.{self._mac(call_sid, expiry, nonce)}"

    def redeem(self, token: object, call_sid: object) -> bool:
        if not isinstance(token, str) or not isinstance(call_sid, str) or token.count(".") != 2 or len(token) > 200:
            return False
        expiry, nonce, mac = token.split(".")
        if not expiry.isdigit() or int(expiry) < time.time():
            return False
        if not hmac.compare_digest(mac, self._mac(call_sid, expiry, nonce)):
            return False
        now = time.time()
        with self._lock:
            for k in [k for k, t in self._used.items() if t < now]:
                del self._used[k]
            if nonce in self._used:
                return False
            self._used[nonce] = int(expiry) + 1
        return True
