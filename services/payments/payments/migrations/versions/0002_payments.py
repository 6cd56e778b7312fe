"""Payments, the double-entry ledger (append-only, balanced per currency), payouts and refunds.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from payments.adapters.tables import PAYMENTS_TABLES, metadata

revision = "0002"
down_revision = "0001"

# Checked at COMMIT (a deferred constraint trigger), once all of a transaction's entries exist:
# a ledger transaction whose entries do not sum to zero in every currency cannot be committed.
BALANCED = [
    """
CREATE FUNCTION ledger_transaction_balances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM ledger_entries WHERE transaction_id = NEW.transaction_id
        GROUP BY currency HAVING sum(amount) <> 0
    ) THEN
        RAISE EXCEPTION 'ledger transaction % does not balance', NEW.transaction_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE CONSTRAINT TRIGGER ledger_entries_balance
    AFTER INSERT ON ledger_entries DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances()
""",
]

# Corrections are new, compensating transactions; history is never rewritten.
APPEND_ONLY = [
    """
CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'check_violation';
END $$
""",
    *(
        f"""
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only()
"""
        for table in ("ledger_entries", "ledger_transactions")
    ),
]


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=PAYMENTS_TABLES)
    for statement in (*BALANCED, *APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ledger_transactions_append_only ON ledger_transactions")
    op.execute("DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries")
    op.execute("DROP TRIGGER IF EXISTS ledger_entries_balance ON ledger_entries")
    op.execute("DROP FUNCTION IF EXISTS ledger_is_append_only()")
    op.execute("DROP FUNCTION IF EXISTS ledger_transaction_balances()")
    metadata.drop_all(op.get_bind(), tables=list(reversed(PAYMENTS_TABLES)))
