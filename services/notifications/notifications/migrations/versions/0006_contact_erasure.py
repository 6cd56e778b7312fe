"""Erasure: a tombstone on `user-contacts` empties a person's row and stamps `erased_at`; the row
stays, so a copy of older details arriving later loses to the erasure (`published_at`).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("contacts", sa.Column("erased_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("contacts", "erased_at")
