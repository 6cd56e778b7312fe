"""The outbox's quarantine: a row the broker can never take is set aside with its reason.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from shared.messaging.tables import add_outbox_quarantine, drop_outbox_quarantine

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    add_outbox_quarantine(op)


def downgrade() -> None:
    drop_outbox_quarantine(op)
