"""Editor roles and bearer tokens.

Tokens come from ``ASSISTANT_EDITOR_TOKENS`` (JSON ``{token: role}``), from a tokens file (the same
JSON, or lines ``token role [name]``) and from tokens an admin created (kept in the database, hashed,
looked up on every request so that a revocation counts in every process at once). Configured tokens
are at least :data:`MIN_TOKEN_LENGTH` characters, checked when the app is created
(:func:`check_configured`). Only SHA-256 digests are held; a presented token is hashed and compared
with :func:`hmac.compare_digest` against every configured digest. :class:`FailureThrottle` answers
429 to an address after too many wrong tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROLES: tuple[str, ...] = ("editor", "publisher", "admin")
#: A role may do what the roles before it may do.
RANK = {role: i for i, role in enumerate(ROLES)}
ROLE_NAMES = {"editor": "biên tập viên", "publisher": "người duyệt xuất bản", "admin": "quản trị"}
MIN_TOKEN_LENGTH = 16


class TokenConfigError(ValueError):
    """The configured tokens are unusable (too short, unknown role, unreadable file)."""


@dataclass(frozen=True)
class Principal:
    """Who made a request: a display name (for the audit log) and a role."""

    name: str
    role: str

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _parse_file(path: Path) -> dict[str, tuple[str, str | None]]:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("{"):
        return {tok: (role, None) for tok, role in json.loads(text).items()}
    out: dict[str, tuple[str, str | None]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) < 2:
            raise ValueError(f"{path}: mỗi dòng phải có dạng 'token vai_trò [tên]'")
        out[parts[0]] = (parts[1], " ".join(parts[2:]) or None)
    return out


class TokenRegistry:
    """Digest → principal of the configured tokens. Build with :meth:`from_settings`.

    Tokens an admin created are not held here: :meth:`EditorService.principal` reads them from the
    database on each request, so a token revoked in one worker is refused by every worker.
    """

    def __init__(self) -> None:
        self._by_digest: dict[str, Principal] = {}

    @classmethod
    def from_settings(cls, settings) -> TokenRegistry:
        """The configured tokens (:class:`TokenConfigError` naming the source, never the token)."""
        reg = cls()
        sources: list[tuple[str, dict[str, tuple[str, str | None]]]] = [
            ("ASSISTANT_EDITOR_TOKENS", {t: (r, None) for t, r in settings.editor_tokens.items()})]
        if settings.editor_tokens_file is not None:
            path = Path(settings.editor_tokens_file)
            try:
                sources.append((str(path), _parse_file(path)))
            except (OSError, ValueError) as exc:
                raise TokenConfigError(f"ASSISTANT_EDITOR_TOKENS_FILE {path}: không đọc được ({exc})") from None
        for source, configured in sources:
            for i, (token, (role, name)) in enumerate(configured.items(), 1):
                try:
                    reg.add_token(token, role, name)
                except ValueError as exc:
                    raise TokenConfigError(f"{source}, mã thứ {i}: {exc}") from None
        return reg

    def add_token(self, token: str, role: str, name: str | None = None) -> Principal:
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"mã truy cập phải dài ít nhất {MIN_TOKEN_LENGTH} ký tự")
        return self.add_digest(digest(token), role, name)

    def add_digest(self, hexdigest: str, role: str, name: str | None = None) -> Principal:
        if role not in RANK:
            raise ValueError(f"vai trò không hợp lệ {role!r}; dùng một trong {', '.join(ROLES)}")
        principal = Principal(name or f"{role}-{hexdigest[:6]}", role)
        self._by_digest[hexdigest] = principal
        return principal

    def remove_digest(self, hexdigest: str) -> None:
        self._by_digest.pop(hexdigest, None)

    def lookup(self, token: str) -> Principal | None:
        """The principal of ``token``, comparing digests in constant time."""
        presented = digest(token)
        found = None
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, presented):
                found = principal
        return found

    def __len__(self) -> int:
        return len(self._by_digest)


def check_configured(settings) -> int:
    """Read the configured tokens once (at app creation): a bad one fails start-up, not a request."""
    return len(TokenRegistry.from_settings(settings))


class FailureThrottle:
    """At most ``limit`` wrong tokens per client address per ``window_s``; then 429 until the oldest expires."""

    def __init__(self, limit: int = 10, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000):
        self.limit, self.window_s, self.clock, self.max_clients = limit, window_s, clock, max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or ``None`` when it may now."""
        with self._lock:
            now = self.clock()
            times = self._recent(client, now)
            if len(times) < self.limit:
                return None
            return max(1, math.ceil(times[0] + self.window_s - now))

    def failed(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            if len(self._failures) >= self.max_clients:  # forget clients with nothing recent
                for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window_s]:
                    del self._failures[key]
            times = self._recent(client, now)
            times.append(now)
            self._failures[client] = times
