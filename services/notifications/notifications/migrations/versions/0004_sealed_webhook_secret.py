"""Webhook secrets sealed at rest (`shared.sealing`): the column holds the sealed text, longer
than the secret. Rows written before are read as they are and sealed when next written.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.alter_column("contacts", "webhook_secret", type_=sa.String(512), existing_nullable=True)


def downgrade() -> None:
    # a sealed secret may not fit the old column: open them (with the service's keys) first
    op.alter_column("contacts", "webhook_secret", type_=sa.String(255), existing_nullable=True)
