"""The index the gateway reconciliation reads: received payments by gateway and opening time
(`service_layer/reconciliation.py`), so a window costs what it holds, not the whole table.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_index(
        "ix_payments_received_opened",
        "payments",
        ["gateway", "created_at"],
        postgresql_where="status = 'received'",
        if_not_exists=True,  # 0002 creates the tables from the current metadata
    )


def downgrade() -> None:
    op.drop_index("ix_payments_received_opened", table_name="payments", if_exists=True)
