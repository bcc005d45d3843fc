"""Join the call-record (0002) and editor (0003) branches, written side by side from 0001.

Revision ID: 0004
Revises: 0002, 0003
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: tuple[str, ...] = ("0002", "0003")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: both branches touch different tables."""


def downgrade() -> None:
    """Nothing to undo."""
