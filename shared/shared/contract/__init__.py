"""The wire contract of the escrow suite (DESIGN.md §7): one module per bounded context
(`escrow`, `payments`, `disputes`, `directory`), the CloudEvents envelope, command results,
and the registry that maps each CloudEvents type to its topic and model."""

from shared.contract.base import Actor, Amount, Command, Currency, Event, Message, Role, Share
from shared.contract.envelope import CloudEvent, EnvelopeError, decode, new_event
from shared.contract.results import CommandResult, ReasonCode

__all__ = [
    "Actor",
    "Amount",
    "CloudEvent",
    "Command",
    "CommandResult",
    "Currency",
    "EnvelopeError",
    "Event",
    "Message",
    "ReasonCode",
    "Role",
    "Share",
    "decode",
    "new_event",
]
