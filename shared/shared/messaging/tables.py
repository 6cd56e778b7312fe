"""The outbox and inbox tables each service's database carries beside its own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from shared.db import new_metadata

metadata = new_metadata()

outbox = sa.Table(
    "outbox",
    metadata,
    # The id orders messages per key; the relay never uses it as a cursor, so a row committed
    # after a higher id (out of order) is still found by `published_at IS NULL`.
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("message_id", sa.String(128), nullable=False, unique=True),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    # set, with the broker's reason, when the broker can never take the row (see `outbox`)
    sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("failure", sa.Text, nullable=True),
    sa.Index("ix_outbox_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
    sa.Index("ix_outbox_quarantined", "id", postgresql_where=sa.text("quarantined_at IS NOT NULL")),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("message_id", sa.String(128), primary_key=True),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("topic", sa.String(255), nullable=False),
    # sha256 of the type and data: a command id reused with another body is a conflict
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("result", JSONB, nullable=True),
    sa.Column(
        "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    # the oldest rows are pruned first (`inbox.prune`)
    sa.Index("ix_inbox_processed_at", "processed_at"),
)


def create_messaging_tables(op: Any) -> None:
    """For a service's first migration: `create_messaging_tables(op)`."""
    bind = op.get_bind()
    metadata.create_all(bind, tables=[outbox, inbox])


def add_outbox_quarantine(op: Any) -> None:
    """For a service's migration after its first: the quarantine columns and index. Written to
    be a no-op on a database whose first migration already created them (it creates the tables
    as they are now)."""
    op.execute(
        "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS quarantined_at TIMESTAMP WITH TIME ZONE, "
        "ADD COLUMN IF NOT EXISTS failure TEXT"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_outbox_quarantined ON outbox (id) "
        "WHERE quarantined_at IS NOT NULL"
    )


def add_inbox_pruning_index(op: Any) -> None:
    """For a service's migration after its first: the index `inbox.prune` reads (a no-op where
    the first migration already created it)."""
    op.execute("CREATE INDEX IF NOT EXISTS ix_inbox_processed_at ON inbox (processed_at)")


def drop_inbox_pruning_index(op: Any) -> None:
    op.drop_index("ix_inbox_processed_at", table_name="inbox")


def drop_outbox_quarantine(op: Any) -> None:
    op.drop_index("ix_outbox_quarantined", table_name="outbox")
    op.drop_column("outbox", "failure")
    op.drop_column("outbox", "quarantined_at")


def drop_messaging_tables(op: Any) -> None:
    bind = op.get_bind()
    metadata.drop_all(bind, tables=[inbox, outbox])
