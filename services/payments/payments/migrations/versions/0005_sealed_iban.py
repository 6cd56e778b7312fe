"""Payout IBANs sealed at rest (`shared.sealing`): the column holds the sealed text, longer than
an IBAN. Rows written before are read as they are and sealed when next written.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.alter_column("payouts", "iban", type_=sa.String(255), existing_nullable=False)


def downgrade() -> None:
    # a sealed IBAN does not fit the old column: open them (with the service's keys) first
    op.alter_column("payouts", "iban", type_=sa.String(34), existing_nullable=False)
