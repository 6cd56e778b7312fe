"""The Contract aggregate: one employer, one contractor, a currency and maybe an agreed price.

Escrows are born here because the contract guards its agreed price: the agreed escrows that are
not cancelled or declined may not add up to more than it. Each escrow opened bumps the contract's
version, so two concurrent openings under one contract cannot both pass the bound (the
repository saves the contract with an optimistic version check).
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from .actors import Actor, Role, check_is_contractor, check_is_employer
from .errors import ExceedsAgreedAmount, Forbidden, InvalidState
from .escrow import Escrow, EscrowTerms
from .events import ContractOpened
from .money import check_amount, check_currency
from .states import NOT_COUNTED_STATES, EscrowKind
from .timers import TimerPolicy, check_aware


@dataclass(eq=False)
class Contract:
    contract_id: str
    employer_id: str
    contractor_id: str
    currency: str
    created_at: datetime
    agreed_amount: int | None = None  # None: no agreed price, so nothing bounds agreed escrows
    title: str = ""
    version: int = 1
    events: list[ContractOpened] = field(default_factory=list, init=False, repr=False)

    @classmethod
    def open(
        cls,
        actor: Actor,
        *,
        contract_id: str,
        contractor_id: str,
        currency: str,
        now: datetime,
        accepted_currencies: Collection[str],
        agreed_amount: int | None = None,
        title: str = "",
    ) -> "Contract":
        """The employer (the actor) opens a contract with a contractor."""
        check_aware(now)
        if actor.role != Role.EMPLOYER or actor.user_id == contractor_id:
            raise Forbidden("only an employer may open a contract, and not with himself")
        check_currency(currency, accepted_currencies)
        if agreed_amount is not None:
            check_amount(agreed_amount, "agreed_amount")
        terms = (contract_id, actor.user_id, contractor_id, currency)
        contract = cls(*terms, created_at=now, agreed_amount=agreed_amount, title=title)
        contract.events.append(ContractOpened(*terms, agreed_amount, title, now))
        return contract

    def create_escrow(
        self,
        actor: Actor,
        *,
        escrow_id: str,
        kind: EscrowKind,
        amount: int,
        now: datetime,
        policy: TimerPolicy,
        existing: Iterable[Escrow],
        description: str = "",
    ) -> Escrow:
        """The employer creates a secure payment; `existing` are all this contract's escrows."""
        check_aware(now)
        check_is_employer(actor, self.employer_id, "create an escrow")
        terms = self._new_escrow_terms(escrow_id, EscrowKind(kind), amount, existing, description)
        return Escrow.created_by_employer(terms, now, policy)

    def request_escrow(
        self,
        actor: Actor,
        *,
        escrow_id: str,
        kind: EscrowKind,
        amount: int,
        now: datetime,
        existing: Iterable[Escrow],
        description: str = "",
    ) -> Escrow:
        """The contractor asks for a secure payment of part or all of the price."""
        check_aware(now)
        check_is_contractor(actor, self.contractor_id, "request an escrow")
        terms = self._new_escrow_terms(escrow_id, EscrowKind(kind), amount, existing, description)
        return Escrow.requested_by_contractor(terms, now)

    def committed_amount(self, escrows: Iterable[Escrow]) -> int:
        """What the agreed escrows of this contract ask for, leaving out cancelled and declined."""
        return sum(
            escrow.amount
            for escrow in self._own(escrows)
            if escrow.kind == EscrowKind.AGREED and escrow.state not in NOT_COUNTED_STATES
        )

    def _new_escrow_terms(
        self,
        escrow_id: str,
        kind: EscrowKind,
        amount: int,
        existing: Iterable[Escrow],
        description: str,
    ) -> EscrowTerms:
        check_amount(amount)
        escrows = list(self._own(existing))
        if any(escrow.escrow_id == escrow_id for escrow in escrows):
            raise InvalidState(f"escrow {escrow_id} already exists")
        if kind == EscrowKind.AGREED:
            self._check_agreed_price_allows(amount, escrows)
        self.version += 1
        parties = (self.contract_id, self.employer_id, self.contractor_id)
        return EscrowTerms(escrow_id, *parties, kind, self.currency, amount, description)

    def _check_agreed_price_allows(self, amount: int, escrows: list[Escrow]) -> None:
        if self.agreed_amount is None:
            return
        committed = self.committed_amount(escrows)
        if committed + amount > self.agreed_amount:
            raise ExceedsAgreedAmount(
                f"{committed} of the agreed {self.agreed_amount} is already committed; "
                f"{amount} more would exceed it"
            )

    def _own(self, escrows: Iterable[Escrow]) -> Iterable[Escrow]:
        for escrow in escrows:
            # Another contract's escrow here means the repository loaded the wrong rows: the bound
            # would be computed on wrong numbers, so stop rather than guess.
            if escrow.contract_id != self.contract_id:
                raise ValueError(f"escrow {escrow.escrow_id} is not of contract {self.contract_id}")
            yield escrow
