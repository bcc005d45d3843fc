"""Editor workflow: drafts, audit log, admin-created tokens, handled inbox items.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25

Mirrors ``assistant.editor.tables``; names follow ``assistant.store.models.NAMING_CONVENTION``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_drafts",
        sa.Column("entry_id", sa.String(200), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("base", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(16), server_default=sa.text("'editor'"), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_kb_drafts")),
    )
    op.create_index(op.f("ix_kb_drafts_state"), "kb_drafts", ["state"], unique=False)
    op.create_table(
        "kb_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=True),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("diff", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("detail", sa.Text(), server_default=sa.text("'{}'"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_audit")),
    )
    op.create_index(op.f("ix_kb_audit_at"), "kb_audit", ["at"], unique=False)
    op.create_table(
        "kb_tokens",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_kb_tokens")),
    )
    op.create_table(
        "kb_inbox_handled",
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_kb_inbox_handled")),
    )


def downgrade() -> None:
    op.drop_table("kb_inbox_handled")
    op.drop_table("kb_tokens")
    op.drop_index(op.f("ix_kb_audit_at"), table_name="kb_audit")
    op.drop_table("kb_audit")
    op.drop_index(op.f("ix_kb_drafts_state"), table_name="kb_drafts")
    op.drop_table("kb_drafts")
