"""The escrow domain: contracts, escrows and their ledger, as pure code with no I/O.

The service layer imports from here: the aggregates (Contract, Escrow), who acts (Actor), the
money rules (FeePolicy), the timers (TimerPolicy), the events they record and the refusals.
"""

from .actors import Actor, Role
from .contract import Contract
from .errors import (
    AlreadyFunded,
    AmountMismatch,
    CurrencyMismatch,
    DisputeAlreadyOpen,
    DisputeRefused,
    EscrowRefusal,
    ExceedsAgreedAmount,
    ExceedsHeld,
    Forbidden,
    FundingCurrencyMismatch,
    FundingRefused,
    InvalidAmount,
    InvalidState,
    NotAwaitingPayment,
    NotFound,
    PayerMismatch,
    UnsupportedCurrency,
)
from .escrow import Escrow, EscrowTerms
from .events import (
    ChangesRequested,
    ContractOpened,
    EscrowCancelled,
    EscrowCreated,
    EscrowDeclined,
    EscrowDisputed,
    EscrowEvent,
    EscrowFunded,
    EscrowRefunded,
    EscrowReleased,
    EscrowRequestAccepted,
    EscrowRequested,
    EscrowSettled,
    EscrowUnfrozen,
    ReleaseReminderDue,
    WorkDelivered,
)
from .ledger import Entry, Transaction, TransactionKind
from .money import MAX_AMOUNT, FeePolicy, FeeSplit
from .snapshot import EscrowSnapshot
from .states import TERMINAL_STATES, EscrowKind, EscrowState
from .timers import Timer, TimerKind, TimerPolicy

__all__ = [
    "MAX_AMOUNT",
    "TERMINAL_STATES",
    "Actor",
    "AlreadyFunded",
    "AmountMismatch",
    "ChangesRequested",
    "Contract",
    "ContractOpened",
    "CurrencyMismatch",
    "DisputeAlreadyOpen",
    "DisputeRefused",
    "Entry",
    "Escrow",
    "EscrowCancelled",
    "EscrowCreated",
    "EscrowDeclined",
    "EscrowDisputed",
    "EscrowEvent",
    "EscrowFunded",
    "EscrowKind",
    "EscrowRefunded",
    "EscrowRefusal",
    "EscrowReleased",
    "EscrowRequestAccepted",
    "EscrowRequested",
    "EscrowSettled",
    "EscrowSnapshot",
    "EscrowState",
    "EscrowTerms",
    "EscrowUnfrozen",
    "ExceedsAgreedAmount",
    "ExceedsHeld",
    "FeePolicy",
    "FeeSplit",
    "Forbidden",
    "FundingCurrencyMismatch",
    "FundingRefused",
    "InvalidAmount",
    "InvalidState",
    "NotAwaitingPayment",
    "NotFound",
    "PayerMismatch",
    "ReleaseReminderDue",
    "Role",
    "Timer",
    "TimerKind",
    "TimerPolicy",
    "Transaction",
    "TransactionKind",
    "UnsupportedCurrency",
    "WorkDelivered",
]
