"""The answer every command gets on `command-results`, and the reason codes a refusal can carry."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from shared.contract.base import Event


class ReasonCode(StrEnum):
    """Why a command was rejected (DESIGN.md §7); services may add codes of their own."""

    FORBIDDEN = "forbidden"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_STATE = "invalid_state"
    NOT_FOUND = "not_found"
    EXCEEDS_AGREED_AMOUNT = "exceeds_agreed_amount"
    EXCEEDS_HELD = "exceeds_held"
    CURRENCY_MISMATCH = "currency_mismatch"
    NOT_ESCROWED = "not_escrowed"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INVALID_TOKEN = "invalid_token"
    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    #: the command's handling failed for good; it was dead-lettered (DESIGN.md §7)
    INTERNAL_ERROR = "internal_error"


class CommandResult(Event):
    """`<context>.CommandResult.v1`, the context being the handling service's (`result_type`)."""

    TYPE: ClassVar[str] = "suite.CommandResult.v1"
    TOPIC: ClassVar[str] = "command-results"

    command_id: str
    command_type: str
    status: Literal["accepted", "rejected"]
    reason_code: str | None = None
    message: str = ""
    aggregate_id: str | None = None

    def kafka_key(self) -> str:
        return self.command_id

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


def result_type(context: str) -> str:
    """The CloudEvents type of a command result from one bounded context."""
    return f"{context}.CommandResult.v1"
