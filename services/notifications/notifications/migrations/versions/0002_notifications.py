"""Contacts, notices and deliveries of the notifications service.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("display_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(32)),
        sa.Column("webhook_url", sa.String(2048)),
        sa.Column("webhook_secret", sa.String(255)),
        sa.Column("channels", JSONB, nullable=False),
        sa.Column("published_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", name="pk_contacts"),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("event", JSONB, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
        sa.UniqueConstraint("event_id", "user_id", name="uq_notices_event_recipient"),
        sa.CheckConstraint(
            "state IN ('waiting', 'dispatched', 'undeliverable')", name="ck_notices_state"
        ),
    )
    op.create_index(
        "ix_notices_waiting", "notices", ["user_id"], postgresql_where=sa.text("state = 'waiting'")
    )
    op.create_index(
        "ix_notices_expiring",
        "notices",
        ["expires_at"],
        postgresql_where=sa.text("state = 'waiting'"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("notice_id", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name="fk_deliveries_notice_id_notices"
        ),
        sa.UniqueConstraint("event_id", "user_id", "channel", name="uq_deliveries_event_recipient"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'undeliverable')",
            name="ck_deliveries_status",
        ),
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["due_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_deliveries_user", "deliveries", ["user_id", "id"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("notices")
    op.drop_table("contacts")
