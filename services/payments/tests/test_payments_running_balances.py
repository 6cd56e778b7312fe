"""Running balances over the real database: kept in step with the entries by every posting,
filled from history by their migration, read by `balance()`, the wallet view and the wallet
gauge, and checked against the entries by reconciliation."""

import asyncio
import itertools
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payments import metrics
from payments.adapters.repository import Repository
from payments.adapters.tables import account_balances, ledger_entries, ledger_transactions
from payments.domain import escrow_money, ledger
from payments.domain.errors import LedgerInconsistency
from payments.domain.ledger import TransactionKind as Kind
from payments.service_layer import views
from payments.service_layer.posting import post
from payments.testing.ledger import ledger_problems
from prometheus_client import REGISTRY
from shared.db import Database, migrate

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CLEARING, FEES = ledger.GATEWAY_CLEARING, ledger.PLATFORM_FEES
PAYOUTS, REFUNDS = ledger.PAYOUTS_IN_FLIGHT, ledger.REFUNDS_IN_FLIGHT


def move(key: str, kind: Kind, currency: str, source: str, *targets: tuple[str, int]):
    return ledger.transaction(
        key, kind, currency, *ledger.moves(source, sum(a for _, a in targets), *targets)
    )


async def posted(db: Database, transaction: ledger.Transaction) -> bool:
    async with db.transaction() as session:
        return await post(Repository(session), transaction, NOW)


async def entry_sums(db: Database) -> dict[tuple[str, str], int]:
    async with db.transaction() as session:
        rows = await session.execute(
            sa.select(
                ledger_entries.c.account,
                ledger_entries.c.currency,
                sa.func.sum(ledger_entries.c.amount),
            ).group_by(ledger_entries.c.account, ledger_entries.c.currency)
        )
        return {(account, currency): int(total) for account, currency, total in rows}


async def running(db: Database) -> dict[tuple[str, str], int]:
    async with db.transaction() as session:
        rows = await session.execute(sa.select(account_balances))
        return {(account, currency): balance for account, currency, balance in rows}


async def balances(db: Database, keys) -> dict[tuple[str, str], int]:
    async with db.transaction() as session:
        repo = Repository(session)
        return {key: await repo.balance(*key) for key in keys}


def test_only_one_owners_accounts_keep_a_running_balance():
    assert ledger.has_running_balance(ledger.wallet("u-1"))
    assert ledger.has_running_balance(ledger.escrow_holding("e-1"))
    for shared_account in (CLEARING, FEES, PAYOUTS, REFUNDS):
        assert not ledger.has_running_balance(shared_account)


async def test_running_balances_follow_a_mixed_sequence_of_postings(db: Database):
    escrow, con, emp = ledger.escrow_holding("e-1"), ledger.wallet("con-1"), ledger.wallet("emp-1")
    funding = move("funded:e-1", Kind.ESCROW_FUNDING, "IRR", CLEARING, (escrow, 100_000))
    history = [
        funding,
        move("direct:p-2", Kind.DIRECT_PAYMENT, "IRR", CLEARING, (con, 5_000)),
        move("direct:p-3", Kind.DIRECT_PAYMENT, "USD", CLEARING, (con, 70)),
        escrow_money.release("e-1", 3, "con-1", "IRR", (60_000, 6_000, 54_000)),
        escrow_money.settlement("e-1", 4, "con-1", "IRR", (20_000, 2_000, 18_000), 10_000),
        escrow_money.refund_reserved("escrow-refunded:e-1:5", "e-1", "IRR", 10_000),
        move("payout:po-1:requested", Kind.PAYOUT_REQUESTED, "IRR", con, (PAYOUTS, 50_000)),
        move("payout:po-1:completed", Kind.PAYOUT_COMPLETED, "IRR", PAYOUTS, (CLEARING, 50_000)),
        move("payout:po-2:requested", Kind.PAYOUT_REQUESTED, "USD", con, (PAYOUTS, 70)),
        move("payout:po-2:returned", Kind.PAYOUT_RETURNED, "USD", PAYOUTS, (con, 70)),
        move("refund:r-1:completed", Kind.REFUND_COMPLETED, "IRR", REFUNDS, (CLEARING, 20_000)),
        move("direct:p-4", Kind.DIRECT_PAYMENT, "IRR", CLEARING, (emp, 1)),
    ]
    for transaction in history:
        assert await posted(db, transaction)
    for transaction in (funding, history[3], history[6]):  # replays change nothing
        assert not await posted(db, transaction)
    with pytest.raises(LedgerInconsistency):  # an overdraft is refused before anything is written
        await posted(db, escrow_money.release("e-1", 6, "con-1", "IRR", (1, 0, 1)))

    expected = {(escrow, "IRR"): 0, (con, "IRR"): 27_000, (con, "USD"): 70, (emp, "IRR"): 1}
    sums = await entry_sums(db)
    assert await running(db) == expected  # no row for the shared accounts: no hot row
    assert await balances(db, expected) == expected
    assert {key: sums[key] for key in expected} == expected
    assert await balances(db, [(ledger.wallet("nobody"), "IRR")]) == {
        (ledger.wallet("nobody"), "IRR"): 0
    }
    assert (await views.wallet(db, "con-1"))["balances"] == {"IRR": 27_000, "USD": 70}
    assert await ledger_problems(db) == []


async def test_a_shared_account_has_no_balance_to_read(db: Database):
    async with db.transaction() as session:
        for shared_account in (CLEARING, FEES, PAYOUTS, REFUNDS):
            with pytest.raises(ValueError, match="keeps no running balance"):
                await Repository(session).balance(shared_account, "IRR")


async def test_reconciliation_reports_a_drifted_balance(db: Database):
    con = ledger.wallet("con-1")
    await posted(db, move("direct:p-1", Kind.DIRECT_PAYMENT, "IRR", CLEARING, (con, 500)))
    assert (await views.ledger_totals(db))["drifted_balances"] == []

    async with db.transaction() as session:  # the table is mutable by design, hence checked
        await session.execute(
            sa.update(account_balances).values(balance=account_balances.c.balance + 1)
        )
        await session.execute(
            sa.insert(account_balances).values(account=FEES, currency="IRR", balance=0)
        )

    drifted = (await views.ledger_totals(db))["drifted_balances"]
    assert drifted == [
        {"account": FEES, "currency": "IRR", "balance": 0, "entries": 0},
        {"account": con, "currency": "IRR", "balance": 501, "entries": 500},
    ]
    assert len(await ledger_problems(db)) == 2


async def test_a_wallet_entry_written_past_the_repository_is_drift(db: Database):
    async with db.transaction() as session:
        tx_id = await session.scalar(
            sa.insert(ledger_transactions)
            .values(key="raw", kind="direct_payment", occurred_at=NOW)
            .returning(ledger_transactions.c.id)
        )
        await session.execute(
            sa.insert(ledger_entries),
            [
                {"transaction_id": tx_id, "account": a, "currency": "IRR", "amount": amount}
                for a, amount in ((CLEARING, -7), (ledger.wallet("u-1"), 7))
            ],
        )
    assert (await views.ledger_totals(db))["drifted_balances"] == [
        {"account": "wallet:u-1", "currency": "IRR", "balance": None, "entries": 7}
    ]


async def test_the_wallet_gauge_reads_the_running_balances(db: Database):
    # XTS (the ISO code for tests) keeps this gauge apart from other tests' in this process
    for n, owner in enumerate(("u-1", "u-2")):
        await posted(
            db,
            move(f"direct:g-{n}", Kind.DIRECT_PAYMENT, "XTS", CLEARING, (ledger.wallet(owner), 30)),
        )
    await posted(
        db,
        move("funded:g", Kind.ESCROW_FUNDING, "XTS", CLEARING, (ledger.escrow_holding("g"), 900)),
    )
    async with db.transaction() as session:  # a row that says otherwise than the entries
        await session.execute(
            sa.update(account_balances)
            .where(account_balances.c.account == "wallet:u-2")
            .values(balance=40)
        )

    await views.refresh_wallet_gauge(db)

    gauge = REGISTRY.get_sample_value(f"{metrics.PREFIX}_wallet_balance_total", {"currency": "XTS"})
    assert gauge == 70  # from the wallets' rows (not escrows'), not from the entries (60)


async def test_the_migration_fills_the_balances_from_history(database_url: str):
    await asyncio.to_thread(migrate, "payments", database_url, "0002")
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            for key, currency, legs in (
                ("a", "IRR", ((CLEARING, -100), ("escrow-holding:e-1", 100))),
                ("b", "IRR", (("escrow-holding:e-1", -100), ("wallet:u-1", 90), (FEES, 10))),
                ("c", "USD", ((CLEARING, -5), ("wallet:u-1", 5))),
                ("d", "IRR", (("wallet:u-1", -40), (PAYOUTS, 40))),
            ):
                tx_id = await session.scalar(
                    sa.insert(ledger_transactions)
                    .values(key=key, kind="release", occurred_at=NOW)
                    .returning(ledger_transactions.c.id)
                )
                await session.execute(
                    sa.insert(ledger_entries),
                    [
                        {"transaction_id": tx_id, "account": a, "currency": currency, "amount": x}
                        for a, x in legs
                    ],
                )
        await asyncio.to_thread(migrate, "payments", database_url, "head")

        assert await running(db) == {
            ("escrow-holding:e-1", "IRR"): 0,
            ("wallet:u-1", "IRR"): 50,
            ("wallet:u-1", "USD"): 5,
        }
        await posted(db, move("after", Kind.PAYOUT_REQUESTED, "IRR", "wallet:u-1", (PAYOUTS, 50)))
        assert await balances(db, [("wallet:u-1", "IRR")]) == {("wallet:u-1", "IRR"): 0}
        assert await ledger_problems(db) == []
    finally:
        await db.dispose()


# --- any sequence of postings ---------------------------------------------------------------

OWNERS = [ledger.wallet("w0"), ledger.wallet("w1"), ledger.escrow_holding("e0")]
amounts = st.integers(min_value=1, max_value=1_000)
postings = st.one_of(
    # money arriving in an owner's account from the gateway
    st.tuples(st.just("in"), st.sampled_from(OWNERS), st.sampled_from(["IRR", "USD"]), amounts),
    # from one owner to another and the fees (a release; an overdraft must be refused)
    st.tuples(
        st.just("move"),
        st.sampled_from(OWNERS),
        st.sampled_from(OWNERS),
        st.sampled_from(["IRR", "USD"]),
        amounts,
        st.integers(min_value=0, max_value=100),
    ),
    # out of an owner's account towards the gateway (a payout or a refund reserved)
    st.tuples(st.just("out"), st.sampled_from(OWNERS), st.sampled_from(["IRR", "USD"]), amounts),
    # the same key again
    st.tuples(st.just("replay"), st.integers(min_value=0)),
)


def _transaction(spec: tuple, namespace: str, n: int) -> ledger.Transaction:
    key = f"{namespace}:{n}"
    if spec[0] == "in":
        _, owner, currency, amount = spec
        return move(key, Kind.DIRECT_PAYMENT, currency, CLEARING, (f"{owner}{namespace}", amount))
    if spec[0] == "move":
        _, source, target, currency, amount, fee = spec
        return move(
            key,
            Kind.RELEASE,
            currency,
            f"{source}{namespace}",
            (f"{target}{namespace}", amount),
            (FEES, fee),
        )
    _, owner, currency, amount = spec
    return move(key, Kind.PAYOUT_REQUESTED, currency, f"{owner}{namespace}", (PAYOUTS, amount))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(postings, max_size=20))
async def test_any_postings_keep_every_running_balance_equal_to_its_entries(
    db: Database, specs: list[tuple]
):
    namespace = f"-{uuid.uuid4().hex[:8]}"  # every example has accounts of its own
    model: defaultdict[tuple[str, str], int] = defaultdict(int)
    done: list[ledger.Transaction] = []
    counter = itertools.count()
    for spec in specs:
        if spec[0] == "replay":
            if done:
                assert not await posted(db, done[spec[1] % len(done)])
            continue
        transaction = _transaction(spec, namespace, next(counter))
        outflows = transaction.outflows().items()
        if any(model[k] < x for k, x in outflows if ledger.has_running_balance(k[0])):
            with pytest.raises(LedgerInconsistency):  # an owner pays more than it holds
                await posted(db, transaction)
            continue
        assert await posted(db, transaction)
        done.append(transaction)
        for e in transaction.entries:
            if ledger.has_running_balance(e.account):
                model[(e.account, e.currency)] += e.amount

    expected = dict(model)
    assert await balances(db, expected) == expected
    rows = {key: v for key, v in (await running(db)).items() if key[0].endswith(namespace)}
    assert rows.keys() <= expected.keys()
    assert {key: rows.get(key, 0) for key in expected} == expected
    sums = await entry_sums(db)
    assert {key: sums.get(key, 0) for key in expected} == expected
    assert (await views.ledger_totals(db))["drifted_balances"] == []
