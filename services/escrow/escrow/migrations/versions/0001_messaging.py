"""The outbox and inbox of the escrow service.

Revision ID: 0001
Revises:
"""

from alembic import op
from shared.messaging.tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
