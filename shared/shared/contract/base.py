"""Building blocks of every message: actors, amounts, currencies, and the two model bases.

Commands reject unknown fields (a typo must not silently drop intent); events ignore them, so an
additive change of a producer never breaks a consumer (DESIGN.md §7).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_AMOUNT = 10**15

#: Money in the currency's smallest unit. Strict: a float or a numeric string is refused,
#: never rounded.
Amount = Annotated[int, Field(strict=True, ge=1, le=MAX_AMOUNT)]
#: A share of money that may be zero (a verdict's or a proposal's side).
Share = Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=10_000)]
#: What a party writes in a dispute: some text, not only blanks (the schema says so, as the
#: service requires).
Statement = Annotated[str, StringConstraints(min_length=1, max_length=10_000, pattern=r"\S")]


class Role(StrEnum):
    EMPLOYER = "employer"
    CONTRACTOR = "contractor"
    ARBITER = "arbiter"
    ADMIN = "admin"
    SYSTEM = "system"
    #: reads the ledgers' totals for reconciliation, and nothing else (sends no command)
    OPERATOR = "operator"


class Message(BaseModel):
    """A message of the wire contract; `TYPE` and `TOPIC` name it on the wire."""

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]

    def kafka_key(self) -> str:
        """The aggregate id that keys the Kafka record (keeps one aggregate's messages in order)."""
        raise NotImplementedError


class Actor(BaseModel):
    """Who issues a command; the actor token must name the same user and role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: Identifier
    role: Role


class Command(Message):
    model_config = ConfigDict(extra="forbid")

    actor: Actor

    @classmethod
    def aggregate_field(cls) -> str | None:
        """The field naming the aggregate the command acts on, which its `CommandResult`'s
        `aggregate_id` carries, accepted or rejected: its first `*_id` field (`escrow_id` of
        CreateEscrow, `dispute_id` of OpenDispute, `payment_id` of StartPayment)."""
        return next((name for name in cls.model_fields if name.endswith("_id")), None)


class Event(Message):
    model_config = ConfigDict(extra="ignore")
