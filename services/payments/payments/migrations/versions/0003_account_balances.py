"""Running balances of wallets and escrow holdings, filled from the ledger's history.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from payments.adapters.tables import account_balances

revision = "0003"
down_revision = "0002"

# The accounts of `ledger.has_running_balance` as this revision knows them. Run it while no
# older release writes entries: the balances of entries posted after it would be missing.
BACKFILL = """
INSERT INTO account_balances (account, currency, balance)
SELECT account, currency, sum(amount) FROM ledger_entries
WHERE account LIKE 'wallet:%' OR account LIKE 'escrow-holding:%'
GROUP BY account, currency
"""


def upgrade() -> None:
    account_balances.create(op.get_bind())
    op.execute(BACKFILL)


def downgrade() -> None:
    account_balances.drop(op.get_bind())
