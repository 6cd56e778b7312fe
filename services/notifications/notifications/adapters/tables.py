"""The notifications service's own tables (the outbox and inbox come from `shared`).

`contacts` keeps the latest directory record per person (or that it was erased); `notices` is
what someone must be told about an event (waiting while their contact details are unknown);
`deliveries` is one message on one channel, unique per (event, recipient, channel), and doubles
as the due-time table the delivery loop polls.
"""

import sqlalchemy as sa
from shared.db import new_metadata
from sqlalchemy.dialects.postgresql import JSONB

metadata = new_metadata()

TIMESTAMP = sa.DateTime(timezone=True)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("display_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("email", sa.String(320)),
    sa.Column("phone", sa.String(32)),
    sa.Column("webhook_url", sa.String(2048)),
    sa.Column("webhook_secret", sa.String(512)),  # sealed (shared.sealing)
    sa.Column("channels", JSONB, nullable=False),
    # the CloudEvent time of the record kept: an older record arriving late never overwrites it
    sa.Column("published_at", TIMESTAMP, nullable=False),
    # set by a tombstone: the details are gone (NULL, empty), the row stays as the erasure's time
    sa.Column("erased_at", TIMESTAMP),
    sa.Column("updated_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
)

notices = sa.Table(
    "notices",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", sa.String(128), nullable=False),
    sa.Column("event_type", sa.String(255), nullable=False),
    sa.Column("event", JSONB, nullable=False),  # the CloudEvent as received: rendered when sent
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("template", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # waiting | dispatched | undeliverable
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("expires_at", TIMESTAMP, nullable=False),
    sa.UniqueConstraint("event_id", "user_id", name="uq_notices_event_recipient"),
    sa.CheckConstraint("state IN ('waiting', 'dispatched', 'undeliverable')", name="state"),
    sa.Index("ix_notices_waiting", "user_id", postgresql_where=sa.text("state = 'waiting'")),
    sa.Index("ix_notices_expiring", "expires_at", postgresql_where=sa.text("state = 'waiting'")),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("notice_id", sa.BigInteger, sa.ForeignKey("notices.id"), nullable=False),
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
    # exactly one message per (event, recipient, channel), whatever the consumers do
    sa.UniqueConstraint("event_id", "user_id", "channel", name="uq_deliveries_event_recipient"),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'undeliverable')", name="status"),
    sa.Index("ix_deliveries_due", "due_at", postgresql_where=sa.text("status = 'pending'")),
    sa.Index("ix_deliveries_user", "user_id", "id"),
)
