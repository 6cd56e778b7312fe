"""The message a payment, payout or refund follows from (`caused_by`, `correlation_id`), so the
events sent later carry its causation and correlation (a gateway callback's PaymentReceived
follows from its StartPayment). Rows from before have none: their events start a new chain.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"

TABLES = ("payments", "payouts", "refunds")


def upgrade() -> None:
    # IF NOT EXISTS: 0002 creates the tables from the current metadata
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS caused_by VARCHAR(128), "
            "ADD COLUMN IF NOT EXISTS correlation_id VARCHAR(128)"
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "correlation_id")
        op.drop_column(table, "caused_by")
