"""Random sequences of commands, events and timers, by right and wrong actors, driven through the
escrow domain; after every step the money must still add up (DESIGN §2, §3).

Checked after each step: every transaction balances per currency; held equals funded minus
released, refunded and settled, and is never negative; a terminal escrow holds nothing; only a
verdict moves money out of a disputed escrow; a change adds exactly one to the version and
records one event, a refusal changes nothing; all money across all accounts sums to zero. Each
rule also checks what only it knows: who may do it, which payment (and whose) may fund, when a
timer is due.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from escrow.domain import (
    MAX_AMOUNT,
    TERMINAL_STATES,
    Actor,
    Contract,
    Escrow,
    EscrowKind,
    EscrowRefusal,
    EscrowReleased,
    EscrowSettled,
    EscrowState,
    FeePolicy,
    TimerKind,
    TimerPolicy,
)
from escrow.domain.ledger import escrow_account
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

S = EscrowState
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
FEES = {"IRR": FeePolicy(fee_bps=1000, min_fee=500)}
POLICY = TimerPolicy(
    payment_expiry=timedelta(days=2),
    release_reminder_every=timedelta(days=1),
    auto_release_after=timedelta(days=5),
)
AGREED_PRICE = 500_000
EMPLOYER, CONTRACTOR = Actor("emp-1", "employer"), Actor("con-1", "contractor")
WRONG_ACTORS = [
    Actor("emp-2", "employer"),
    Actor("con-2", "contractor"),
    Actor("arb-1", "arbiter"),
    Actor("adm-1", "admin"),
    Actor("system", "system"),
    Actor("emp-1", "contractor"),
    Actor("con-1", "employer"),
]
# None stands for the party the command belongs to: the right actor about two times in three.
ACTORS = st.one_of(st.none(), st.none(), st.sampled_from([EMPLOYER, CONTRACTOR, *WRONG_ACTORS]))
AMOUNTS = st.one_of(
    st.integers(1, 300_000),
    st.integers(1, 300_000),
    st.sampled_from([1, MAX_AMOUNT, 0, -1, MAX_AMOUNT + 1]),
)
# How much to release or refund: all (None), exactly what is held, one more, or anything.
MOVE_AMOUNTS = st.one_of(
    st.sampled_from([None, "held", "held+1", 0, MAX_AMOUNT]), st.integers(1, 150_000)
)
# -1: an escrow in a state where the step applies (if any); else any escrow, to test refusals.
PICK = st.one_of(st.just(-1), st.just(-1), st.just(-1), st.integers(0, 1_000))
HOLDING = {S.FUNDED, S.DELIVERED, S.DISPUTED}
MONEY_OUT = {"release", "refund", "verdict", "auto_release"}


def platform_fee(gross: int) -> int:
    """FEES["IRR"] written out independently: 10%, at least 500, at most the gross."""
    return min(gross, max(500, gross // 10)) if gross else 0


class EscrowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.contract = Contract.open(
            EMPLOYER,
            contract_id="c-1",
            contractor_id="con-1",
            currency="IRR",
            now=T0,
            accepted_currencies={"IRR"},
            agreed_amount=AGREED_PRICE,
        )
        self.escrows: list[Escrow] = []
        self.payments = 0

    def pick(self, index: int, *states: EscrowState) -> Escrow:
        fitting = [e for e in self.escrows if e.state in states] if index == -1 else []
        return fitting[-1] if fitting else self.escrows[index % len(self.escrows)]

    def attempt(
        self, escrow: Escrow, step: str, call: Callable[[], object]
    ) -> tuple[bool, EscrowRefusal | None]:
        """Run one step; check it changed the escrow by exactly one version, or not at all."""
        before, transactions, events = (
            escrow.snapshot(),
            len(escrow.transactions),
            len(escrow.events),
        )
        refusal: EscrowRefusal | None = None
        try:
            changed = call() is not False
        except EscrowRefusal as refused:
            changed, refusal = False, refused
        event(f"{step}: {'changed' if changed else 'refused'}")
        if not changed:
            assert escrow.snapshot() == before
            assert (len(escrow.transactions), len(escrow.events)) == (transactions, events)
            return False, refusal
        assert escrow.version == before.version + 1
        assert len(escrow.events) == events + 1 and escrow.events[-1].escrow == escrow.snapshot()
        assert len(escrow.transactions) - transactions in (0, 1)
        if escrow.held < before.held:
            assert step in MONEY_OUT, step
        if before.state == S.DISPUTED and escrow.held != before.held:
            assert step == "verdict" and escrow.state == S.SETTLED
        if escrow.held > before.held:
            assert step == "fund"
        return True, None

    def command(
        self,
        escrow: Escrow,
        step: str,
        who: Actor | None,
        allowed: Actor,
        call: Callable[[Actor], object],
    ) -> bool:
        """A party's command: `who` None means the party it belongs to, else any actor."""
        actor = allowed if who is None else who
        changed, _ = self.attempt(escrow, step, lambda: call(actor))
        if changed:
            assert actor == allowed, f"{actor} did {step}, which belongs to {allowed}"
        return changed

    @initialize(amount=st.integers(1, 200_000), deliver=st.booleans())
    def start_with_held_money(self, amount: int, deliver: bool) -> None:
        # Money must be held for most steps to matter; don't leave reaching it to chance.
        e = self.contract.create_escrow(
            EMPLOYER,
            escrow_id="e-held",
            kind=EscrowKind.INSTANT,
            amount=amount,
            now=self.now,
            policy=POLICY,
            existing=self.escrows,
        )
        self.escrows.append(e)
        assert self.attempt(
            e, "fund", lambda: e.receive_payment("p-0", EMPLOYER.user_id, amount, "IRR", T0)
        )[0]
        if deliver:
            assert self.attempt(e, "deliver", lambda: e.deliver(CONTRACTOR, T0))[0]

    @precondition(lambda self: len(self.escrows) < 5)
    @rule(create=st.booleans(), who=ACTORS, kind=st.sampled_from(EscrowKind), amount=AMOUNTS)
    def open_escrow(self, create: bool, who: Actor | None, kind: EscrowKind, amount: int) -> None:
        allowed = EMPLOYER if create else CONTRACTOR
        actor, version, escrow_id = who or allowed, self.contract.version, f"e-{len(self.escrows)}"
        committed = self.contract.committed_amount(self.escrows)
        try:
            if create:
                escrow = self.contract.create_escrow(
                    actor,
                    escrow_id=escrow_id,
                    kind=kind,
                    amount=amount,
                    now=self.now,
                    policy=POLICY,
                    existing=self.escrows,
                )
            else:
                escrow = self.contract.request_escrow(
                    actor,
                    escrow_id=escrow_id,
                    kind=kind,
                    amount=amount,
                    now=self.now,
                    existing=self.escrows,
                )
        except EscrowRefusal as refusal:
            assert self.contract.version == version
            if refusal.reason_code == "exceeds_agreed_amount":
                assert kind == EscrowKind.AGREED and committed + amount > AGREED_PRICE
            return
        assert actor == allowed
        if kind == EscrowKind.AGREED:
            assert committed + amount <= AGREED_PRICE
        assert (escrow.version, len(escrow.events), self.contract.version) == (1, 1, version + 1)
        self.escrows.append(escrow)

    @precondition(lambda self: self.escrows)
    @rule(i=PICK, who=ACTORS)
    def accept(self, i: int, who: Actor | None) -> None:
        e = self.pick(i, S.REQUESTED)
        self.command(e, "accept", who, EMPLOYER, lambda a: e.accept_request(a, self.now, POLICY))

    @precondition(lambda self: self.escrows)
    @rule(i=PICK, who=ACTORS)
    def decline(self, i: int, who: Actor | None) -> None:
        e = self.pick(i, S.REQUESTED)
        self.command(e, "decline", who, EMPLOYER, lambda a: e.decline_request(a, self.now))

    @precondition(lambda self: self.escrows)
    @rule(i=PICK, who=ACTORS)
    def cancel(self, i: int, who: Actor | None) -> None:
        e = self.pick(i, S.REQUESTED, S.AWAITING_PAYMENT)
        allowed = CONTRACTOR if e.state == S.REQUESTED else EMPLOYER
        self.command(e, "cancel", who, allowed, lambda a: e.cancel(a, self.now))

    @precondition(lambda self: self.escrows)
    @rule(
        i=PICK,
        off_by=st.sampled_from([0, 0, 0, 1, -1]),
        currency=st.sampled_from(["IRR", "IRR", "IRR", "USD"]),
        again=st.booleans(),
        who=ACTORS,
    )
    def fund(self, i: int, off_by: int, currency: str, again: bool, who: Actor | None) -> None:
        e = self.pick(i, S.AWAITING_PAYMENT)
        self.payments += 1
        redelivered = e.payment_id if again else None
        payment_id = redelivered or f"p-{self.payments}"
        # A redelivery names the payer of the payment it repeats.
        payer = EMPLOYER.user_id if redelivered else (who or EMPLOYER).user_id
        amount, state = e.amount + off_by, e.state
        changed, refusal = self.attempt(
            e, "fund", lambda: e.receive_payment(payment_id, payer, amount, currency, self.now)
        )
        if redelivered:
            # Refusing it would make the payments service refund money that is held here.
            assert (changed, refusal) == (False, None)
        elif payer != EMPLOYER.user_id:
            assert refusal is not None and refusal.reason_code == "payer_mismatch"
        if changed:
            assert (state, amount, currency, payer) == (
                S.AWAITING_PAYMENT,
                e.amount,
                "IRR",
                EMPLOYER.user_id,
            )

    @precondition(lambda self: self.escrows)
    @rule(i=PICK, who=ACTORS)
    def deliver(self, i: int, who: Actor | None) -> None:
        e = self.pick(i, S.FUNDED)
        self.command(e, "deliver", who, CONTRACTOR, lambda a: e.deliver(a, self.now))

    @precondition(lambda self: self.escrows)
    @rule(i=PICK, who=ACTORS)
    def request_changes(self, i: int, who: Actor | None) -> None:
        e = self.pick(i, S.DELIVERED)
        self.command(e, "changes", who, EMPLOYER, lambda a: e.request_changes(a, self.now))

    @staticmethod
    def amount_to_move(escrow: Escrow, choice: int | str | None) -> int | None:
        if choice == "held":
            return escrow.held
        if choice == "held+1":
            return escrow.held + 1
        assert not isinstance(choice, str)
        return choice

    @precondition(lambda self: self.escrows)
    @rule(i=PICK, who=ACTORS, choice=MOVE_AMOUNTS)
    def release(self, i: int, who: Actor | None, choice: int | str | None) -> None:
        e = self.pick(i, S.FUNDED, S.DELIVERED)
        amount, held = self.amount_to_move(e, choice), e.held
        if self.command(
            e, "release", who, EMPLOYER, lambda a: e.release(a, self.now, FEES, amount)
        ):
            released = e.events[-1]
            assert isinstance(released, EscrowReleased)
            assert released.gross == (held if amount is None else amount) <= held
            assert (released.fee, released.net) == (
                platform_fee(released.gross),
                released.gross - platform_fee(released.gross),
            )

    @precondition(lambda self: self.escrows)
    @rule(i=PICK, who=ACTORS, choice=MOVE_AMOUNTS)
    def refund(self, i: int, who: Actor | None, choice: int | str | None) -> None:
        e = self.pick(i, S.FUNDED, S.DELIVERED)
        amount, held, refunded = self.amount_to_move(e, choice), e.held, e.refunded_amount
        if self.command(e, "refund", who, CONTRACTOR, lambda a: e.refund(a, self.now, amount)):
            assert e.refunded_amount - refunded == (held if amount is None else amount) <= held

    @precondition(lambda self: self.escrows)
    @rule(i=PICK, dispute=st.sampled_from(["d-1", "d-2"]))
    def open_dispute(self, i: int, dispute: str) -> None:
        e = self.pick(i, S.FUNDED, S.DELIVERED)
        dispute_id, state = f"{e.escrow_id}-{dispute}", e.state
        redelivered = state == S.DISPUTED and e.dispute_id == dispute_id
        changed, refusal = self.attempt(e, "dispute", lambda: e.open_dispute(dispute_id, self.now))
        if redelivered:
            assert (changed, refusal) == (False, None)
        if changed:
            assert (e.state_before_dispute, e.dispute_id) == (state, dispute_id)
            assert state in (S.FUNDED, S.DELIVERED)

    @precondition(lambda self: self.escrows)
    @rule(i=PICK, dispute=st.sampled_from(["d-1", "d-2"]))
    def withdraw_dispute(self, i: int, dispute: str) -> None:
        e = self.pick(i, S.DISPUTED)
        dispute_id, state_before = f"{e.escrow_id}-{dispute}", e.state_before_dispute
        if self.attempt(e, "withdraw", lambda: e.withdraw_dispute(dispute_id, self.now))[0]:
            assert (e.state, e.dispute_id) == (state_before, None)

    @precondition(lambda self: self.escrows)
    @rule(
        i=PICK,
        same_dispute=st.sampled_from([True, True, True, False]),
        share=st.integers(0, 400_000),
        off_by=st.sampled_from([0, 0, 0, 1, -1]),
    )
    def verdict(self, i: int, same_dispute: bool, share: int, off_by: int) -> None:
        e = self.pick(i, S.DISPUTED)
        dispute_id = e.dispute_id if same_dispute and e.dispute_id else "d-unknown"
        contractor, held = min(share, e.held), e.held
        employer = held - contractor + off_by
        settle = lambda: e.settle(  # noqa: E731
            dispute_id,
            contractor_amount=contractor,
            employer_amount=employer,
            currency="IRR",
            now=self.now,
            fees=FEES,
        )
        if self.attempt(e, "verdict", settle)[0]:
            settled = e.events[-1]
            assert isinstance(settled, EscrowSettled) and contractor + employer == held
            assert (settled.fee, settled.employer_amount) == (platform_fee(contractor), employer)

    def fire(self, escrow: Escrow, kind: TimerKind, call: Callable[[], object]) -> None:
        """A timer fires exactly when it is due, and only then."""
        due = {timer.kind: timer.due_at for timer in escrow.timers(POLICY)}
        is_due = kind in due and self.now >= due[kind]
        assert self.attempt(escrow, kind.value, call)[0] == is_due

    @precondition(lambda self: self.escrows)
    @rule(i=PICK)
    def expire_payment(self, i: int) -> None:
        e = self.pick(i, S.AWAITING_PAYMENT)
        self.fire(e, TimerKind.PAYMENT_EXPIRY, lambda: e.expire_payment(self.now))

    @precondition(lambda self: self.escrows)
    @rule(i=PICK)
    def remind_release(self, i: int) -> None:
        e = self.pick(i, S.DELIVERED)
        self.fire(e, TimerKind.RELEASE_REMINDER, lambda: e.remind_release(self.now, POLICY))

    @precondition(lambda self: self.escrows)
    @rule(i=PICK)
    def auto_release(self, i: int) -> None:
        e = self.pick(i, S.DELIVERED)
        self.fire(e, TimerKind.AUTO_RELEASE, lambda: e.auto_release(self.now, FEES, POLICY))

    # Small steps, and jumps just past each timer of POLICY (1, 2 and 5 days).
    @rule(hours=st.one_of(st.integers(0, 12), st.sampled_from([25, 49, 121])))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @invariant()
    def every_escrow_adds_up(self) -> None:
        for escrow in self.escrows:
            check_escrow(escrow)

    @invariant()
    def money_is_neither_created_nor_destroyed(self) -> None:
        totals: defaultdict[str, int] = defaultdict(int)
        for escrow in self.escrows:
            for transaction in escrow.transactions:
                for entry in transaction.entries:
                    totals[entry.currency] += entry.amount
        assert all(total == 0 for total in totals.values()), totals

    @invariant()
    def agreed_escrows_stay_within_the_price(self) -> None:
        assert self.contract.committed_amount(self.escrows) <= AGREED_PRICE


def check_escrow(escrow: Escrow) -> None:
    account = escrow_account(escrow.escrow_id)
    in_account = 0
    for transaction in escrow.transactions:
        per_currency: defaultdict[str, int] = defaultdict(int)
        for entry in transaction.entries:
            per_currency[entry.currency] += entry.amount
            in_account += entry.amount if entry.account == account else 0
        assert set(per_currency.values()) == {0}
    held = escrow.held
    assert held == in_account >= 0
    assert held == (
        escrow.funded_amount
        - escrow.released_amount
        - escrow.refunded_amount
        - escrow.settled_amount
    )
    assert escrow.funded_amount == (escrow.amount if escrow.payment_id else 0)
    assert (held > 0) == (escrow.state in HOLDING)
    if escrow.state in TERMINAL_STATES:
        assert held == 0
    assert (escrow.state_before_dispute is not None) == (escrow.state == S.DISPUTED)
    assert [e.escrow.version for e in escrow.events] == list(range(1, escrow.version + 1))
    released = [e for e in escrow.events if isinstance(e, EscrowReleased)]
    settled = [e for e in escrow.events if isinstance(e, EscrowSettled)]
    assert sum(e.gross for e in released) == escrow.released_amount
    fees = sum(e.fee for e in released) + sum(e.fee for e in settled)
    assert fees == escrow.fees_charged


EscrowMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEscrowStateMachine = EscrowMachine.TestCase
