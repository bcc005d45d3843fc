"""Who may call: a source-address allow-list and RFC 2617 digest authentication of INVITEs.

PJSIP's user agent does not challenge incoming INVITEs itself, so the agent does it: an INVITE without
valid credentials is answered ``401 Unauthorized`` with a ``WWW-Authenticate`` header built here, and
the caller's retried INVITE carries an ``Authorization`` header checked here. Nonces are stateless
(a timestamp signed with a per-process secret) and expire after :data:`NONCE_TTL_S`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import time

NONCE_TTL_S = 300

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def source_host(src_address: str) -> str:
    """``"127.0.0.1:5060"`` / ``"[::1]:5060"`` → the host part."""
    s = src_address.strip()
    if s.startswith("["):
        return s[1:s.find("]")]
    return s.rsplit(":", 1)[0] if s.count(":") == 1 else s


class AllowList:
    """Source addresses or networks (CIDR) allowed to send calls; empty allows everyone."""

    def __init__(self, entries: tuple[str, ...] | list[str]):
        self.networks = [ipaddress.ip_network(e, strict=False) for e in entries]

    def allows(self, src_address: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(source_host(src_address))
        except ValueError:
            return False
        return any(ip in net for net in self.networks)


def header(message: str, name: str) -> str | None:
    """First value of a header (case-insensitive) in a raw SIP message."""
    head = message.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    prefix = name.lower() + ":"
    for line in head.splitlines()[1:]:
        if line.lower().startswith(prefix):
            return line.split(":", 1)[1].strip()
    return None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class DigestAuth:
    """MD5 digest (qop=auth) for INVITEs."""

    def __init__(self, user: str, password: str, realm: str, *, secret: bytes | None = None,
                 clock=time.time):
        self.user, self.password, self.realm = user, password, realm
        self._secret = secret or secrets.token_bytes(32)
        self._clock = clock

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]

    def nonce(self) -> str:
        stamp = str(int(self._clock()))
        return f"{stamp}.{self._sign(stamp)}"

    def _nonce_ok(self, nonce: str) -> bool:
        stamp, _, sig = nonce.partition(".")
        if not stamp.isdigit() or not hmac.compare_digest(sig, self._sign(stamp)):
            return False
        return 0 <= self._clock() - int(stamp) <= NONCE_TTL_S

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` header value of a 401."""
        return f'Digest realm="{self.realm}", nonce="{self.nonce()}", algorithm=MD5, qop="auth"'

    def verify(self, message: str, method: str = "INVITE") -> bool:
        """True when the raw request carries a valid ``Authorization`` for our user and a fresh nonce."""
        value = header(message, "Authorization")
        if not value or not value.lower().startswith("digest"):
            return False
        params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
                  for m in _PARAM.finditer(value[6:])}
        need = ("username", "realm", "nonce", "uri", "response")
        if any(k not in params for k in need):
            return False
        if params["username"] != self.user or params["realm"] != self.realm or not self._nonce_ok(params["nonce"]):
            return False
        if params.get("algorithm", "MD5").upper() != "MD5":
            return False
        ha1 = _md5(f"{self.user}:{self.realm}:{self.password}")
        ha2 = _md5(f"{method}:{params['uri']}")
        qop = params.get("qop")
        if qop:
            if qop != "auth" or "nc" not in params or "cnonce" not in params:
                return False
            expected = _md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:{qop}:{ha2}")
        else:
            expected = _md5(f"{ha1}:{params['nonce']}:{ha2}")
        return hmac.compare_digest(expected, params["response"].lower())
