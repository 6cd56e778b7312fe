"""The disputes service's own tables (the outbox and inbox come from `shared`).

`disputes` keeps each dispute's snapshot (timeline included) beside the columns it is searched
by; `dispute_timers` its due deadlines, so they survive restarts; `escrow_views` the latest
escrow snapshot the escrow service announced — this service never reads the escrow database.
"""

import sqlalchemy as sa
from shared.db import new_metadata
from sqlalchemy.dialects.postgresql import JSONB

metadata = new_metadata()

Money = sa.BigInteger
When = sa.DateTime(timezone=True)
Id = sa.String(128)

#: the states of an open dispute (domain.states.OPEN_STATES): at most one per escrow
OPEN_STATES_SQL = "state IN ('pending', 'negotiation', 'arbitration')"

disputes = sa.Table(
    "disputes",
    metadata,
    sa.Column("dispute_id", Id, primary_key=True),
    sa.Column("escrow_id", Id, nullable=False, index=True),
    sa.Column("employer_id", Id, nullable=False, index=True),
    sa.Column("contractor_id", Id, nullable=False, index=True),
    sa.Column("arbiter_id", Id, index=True),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("held_amount", Money),
    sa.Column("opened_at", When, nullable=False),
    sa.Column("updated_at", When, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # the whole dispute as `Dispute.snapshot()` gives it: statements, proposals, timeline
    sa.Column("snapshot", JSONB, nullable=False),
    # A race between two OpenDispute commands must not leave two open disputes on one escrow.
    sa.Index(
        "uq_disputes_one_open_per_escrow",
        "escrow_id",
        unique=True,
        postgresql_where=sa.text(OPEN_STATES_SQL),
    ),
)

dispute_timers = sa.Table(
    "dispute_timers",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("dispute_id", sa.ForeignKey("disputes.dispute_id"), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("due_at", When, nullable=False),
    sa.Column("fired_at", When),
    # tries so far (counted when claimed); after too many the timer is parked, with its error
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("parked_at", When),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_dispute_timers_due", "due_at", postgresql_where=sa.text("fired_at IS NULL")),
    sa.Index("ix_dispute_timers_parked", "id", postgresql_where=sa.text("parked_at IS NOT NULL")),
)

escrow_views = sa.Table(
    "escrow_views",
    metadata,
    sa.Column("escrow_id", Id, primary_key=True),
    sa.Column("employer_id", Id, nullable=False),
    sa.Column("contractor_id", Id, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("held", Money, nullable=False),
    sa.Column("dispute_id", Id),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("snapshot", JSONB, nullable=False),
)
