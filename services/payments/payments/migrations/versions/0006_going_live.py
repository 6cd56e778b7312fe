"""Going live (issue 13): the gateway's fee and the next inquiry of a payment, the payee's own
account at the payout PSP, the refunded payment's gateway reference, and the rounds at which a
PSP said a transfer was under way.

Payments still `started` when this runs are asked of their gateway at once. Revision 0002 builds
its tables from today's `adapters.tables`, so on a fresh database these columns already exist:
every statement here is IF NOT EXISTS.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"

UPGRADE = [
    "ALTER TABLE payments ADD COLUMN IF NOT EXISTS fee BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE payments ADD COLUMN IF NOT EXISTS next_inquiry_at TIMESTAMP WITH TIME ZONE",
    "UPDATE payments SET next_inquiry_at = now() "
    "WHERE status = 'started' AND next_inquiry_at IS NULL",
    "ALTER TABLE payments DROP CONSTRAINT IF EXISTS ck_payments_fee_within_amount",
    "ALTER TABLE payments ADD CONSTRAINT ck_payments_fee_within_amount "
    "CHECK (fee >= 0 AND fee <= amount)",
    "CREATE INDEX IF NOT EXISTS ix_payments_inquiry_due ON payments (next_inquiry_at) "
    "WHERE status = 'started'",
    "ALTER TABLE payouts ADD COLUMN IF NOT EXISTS payout_account VARCHAR(64)",
    "ALTER TABLE refunds ADD COLUMN IF NOT EXISTS payment_reference VARCHAR(255)",
    "ALTER TABLE payouts ADD COLUMN IF NOT EXISTS polls INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE refunds ADD COLUMN IF NOT EXISTS polls INTEGER NOT NULL DEFAULT 0",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_payments_inquiry_due", table_name="payments")
    op.drop_constraint("ck_payments_fee_within_amount", "payments")
    for table in ("payouts", "refunds"):
        op.drop_column(table, "polls")
    op.drop_column("refunds", "payment_reference")
    op.drop_column("payouts", "payout_account")
    op.drop_column("payments", "next_inquiry_at")
    op.drop_column("payments", "fee")
