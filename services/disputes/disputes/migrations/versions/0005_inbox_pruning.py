"""The index the inbox's pruning reads (`shared.messaging.inbox.prune`, oldest first).

Revision ID: 0005
Revises: 0004
"""

from alembic import op
from shared.messaging.tables import add_inbox_pruning_index, drop_inbox_pruning_index

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    add_inbox_pruning_index(op)


def downgrade() -> None:
    drop_inbox_pruning_index(op)
