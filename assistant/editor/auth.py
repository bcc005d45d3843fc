"""Editor roles and bearer tokens.

Tokens come from ``ASSISTANT_EDITOR_TOKENS`` (JSON ``{token: role}``), from a tokens file (the same
JSON, or lines ``token role [name]``) and from tokens an admin created (kept in the database, hashed).
Only SHA-256 digests are held; a presented token is hashed and compared with
:func:`hmac.compare_digest` against every known digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

ROLES: tuple[str, ...] = ("editor", "publisher", "admin")
#: A role may do what the roles before it may do.
RANK = {role: i for i, role in enumerate(ROLES)}
ROLE_NAMES = {"editor": "biên tập viên", "publisher": "người duyệt xuất bản", "admin": "quản trị"}


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
    """Digest → principal. Build with :meth:`from_settings`; add stored tokens with :meth:`add_digest`."""

    def __init__(self) -> None:
        self._by_digest: dict[str, Principal] = {}

    @classmethod
    def from_settings(cls, settings) -> TokenRegistry:
        reg = cls()
        configured: dict[str, tuple[str, str | None]] = {t: (r, None) for t, r in settings.editor_tokens.items()}
        if settings.editor_tokens_file is not None:
            configured.update(_parse_file(Path(settings.editor_tokens_file)))
        for token, (role, name) in configured.items():
            reg.add_token(token, role, name)
        return reg

    def add_token(self, token: str, role: str, name: str | None = None) -> Principal:
        if len(token) < 8:
            raise ValueError("mã truy cập phải dài ít nhất 8 ký tự")
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
