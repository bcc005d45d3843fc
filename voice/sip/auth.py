"""Who may call: a source-address allow-list and RFC 2617 digest authentication of INVITEs.

PJSIP's user agent does not challenge incoming INVITEs itself, so the agent does it: an INVITE without
valid credentials is answered ``401 Unauthorized`` with a ``WWW-Authenticate`` header built here, and
the caller's retried INVITE carries an ``Authorization`` header checked here:

- the digest ``uri`` must be the request's Request-URI (a response computed for another request does
  not authenticate this one);
- nonces are stateless (a timestamp and a random part signed with a per-process secret) and expire after
  :data:`NONCE_TTL_S`; an expired nonce with an otherwise right response gets a new challenge with
  ``stale=true`` (the caller retries without asking its user again);
- each ``(nonce, nc)`` pair is accepted once (a TTL cache as long as a nonce lives), so a captured
  ``Authorization`` header cannot be replayed; without ``qop`` (no ``nc``) a nonce is single-use.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import re
import secrets
import time

NONCE_TTL_S = 300
#: (nonce, nc) pairs remembered at most (a valid pair needs the password, so this only bounds honest use)
USED_MAX = 100_000

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


def _head_lines(message: str) -> list[str]:
    """The start line and the header lines of a raw SIP message, folded continuation lines joined."""
    head = message.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    lines: list[str] = []
    for line in head.splitlines():
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def headers(message: str, name: str) -> list[str]:
    """Every value of a header (name case-insensitive, whitespace before the colon allowed)."""
    out = []
    for line in _head_lines(message)[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            out.append(value.strip())
    return out


def header(message: str, name: str) -> str | None:
    """First value of a header (case-insensitive) in a raw SIP message."""
    found = headers(message, name)
    return found[0] if found else None


def request_uri(message: str) -> str | None:
    """The Request-URI of a raw SIP request (``INVITE sip:a@b SIP/2.0`` → ``sip:a@b``)."""
    lines = _head_lines(message)
    parts = lines[0].split() if lines else []
    return parts[1] if len(parts) == 3 and parts[2].upper().startswith("SIP/") else None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class AuthResult(enum.Enum):
    OK = "ok"
    #: no credentials, or wrong ones: challenge again
    DENIED = "denied"
    #: the right response for a nonce that expired or was already used: challenge with ``stale=true``
    STALE = "stale"

    def __bool__(self) -> bool:
        return self is AuthResult.OK


class DigestAuth:
    """MD5 digest (qop=auth) for INVITEs."""

    def __init__(self, user: str, password: str, realm: str, *, secret: bytes | None = None,
                 clock=time.time):
        self.user, self.password, self.realm = user, password, realm
        self._secret = secret or secrets.token_bytes(32)
        self._clock = clock
        self._used: dict[tuple[str, str], float] = {}  # (nonce, nc) → when it may be forgotten
        self._next_prune = 0.0

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]

    def nonce(self) -> str:
        """``stamp.random.signature``: the random part keeps two challenges in the same second apart."""
        body = f"{int(self._clock())}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign(body)}"

    def _nonce_age(self, nonce: str) -> float | None:
        """Seconds since the nonce was issued, or None when it is not one of ours."""
        body, _, sig = nonce.rpartition(".")
        stamp = body.partition(".")[0]
        if not stamp.isdigit() or not hmac.compare_digest(sig, self._sign(body)):
            return None
        return self._clock() - int(stamp)

    def challenge(self, stale: bool = False) -> str:
        """The ``WWW-Authenticate`` header value of a 401."""
        return (f'Digest realm="{self.realm}", nonce="{self.nonce()}", algorithm=MD5, qop="auth"'
                + (", stale=true" if stale else ""))

    def verify(self, message: str, method: str = "INVITE") -> bool:
        """True when the raw request carries valid, fresh, unused credentials for our user."""
        return self.check(message, method) is AuthResult.OK

    def check(self, message: str, method: str = "INVITE") -> AuthResult:
        """Check every ``Authorization`` header of a raw request (one may be for another realm)."""
        uri = request_uri(message)
        result = AuthResult.DENIED
        for value in headers(message, "Authorization"):
            result = self._check_one(value, method, uri)
            if result is not AuthResult.DENIED:
                return result
        return result

    def _check_one(self, value: str, method: str, req_uri: str | None) -> AuthResult:
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "digest":
            return AuthResult.DENIED
        params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
                  for m in _PARAM.finditer(rest)}
        if any(k not in params for k in ("username", "realm", "nonce", "uri", "response")):
            return AuthResult.DENIED
        if params["username"] != self.user or params["realm"] != self.realm:
            return AuthResult.DENIED
        if params.get("algorithm", "MD5").upper() != "MD5":
            return AuthResult.DENIED
        if req_uri is None or not _same_uri(params["uri"], req_uri):
            return AuthResult.DENIED
        age = self._nonce_age(params["nonce"])
        if age is None or age < -5:  # not ours (or from the future: a clock step back; be strict)
            return AuthResult.DENIED
        ha1 = _md5(f"{self.user}:{self.realm}:{self.password}")
        ha2 = _md5(f"{method}:{params['uri']}")
        qop = params.get("qop")
        if qop:
            nc = params.get("nc", "")
            if qop != "auth" or not re.fullmatch(r"[0-9a-fA-F]{8}", nc) or not params.get("cnonce"):
                return AuthResult.DENIED
            expected = _md5(f"{ha1}:{params['nonce']}:{nc}:{params['cnonce']}:{qop}:{ha2}")
        else:
            nc = ""
            expected = _md5(f"{ha1}:{params['nonce']}:{ha2}")
        if not hmac.compare_digest(expected, params["response"].lower()):
            return AuthResult.DENIED
        if age > NONCE_TTL_S:
            return AuthResult.STALE
        return AuthResult.OK if self._first_use(params["nonce"], nc.lower()) else AuthResult.STALE

    def _first_use(self, nonce: str, nc: str) -> bool:
        now = self._clock()
        if now >= self._next_prune or len(self._used) >= USED_MAX:
            self._used = {k: t for k, t in self._used.items() if t > now}
            self._next_prune = now + 10
            if len(self._used) >= USED_MAX:  # still full of live pairs: refuse rather than forget one
                return False
        key = (nonce, nc)
        if key in self._used:
            return False
        self._used[key] = now + NONCE_TTL_S + 10
        return True


def _same_uri(a: str, b: str) -> bool:
    """Digest ``uri`` vs Request-URI: equal, allowing a different case in the scheme and host."""
    if a == b:
        return True
    return _uri_key(a) == _uri_key(b)


def _uri_key(uri: str) -> tuple[str, str]:
    scheme, _, rest = uri.partition(":")
    user, at, hostpart = rest.rpartition("@")
    return scheme.lower(), (user + at + hostpart.lower()) if at else rest.lower()
