"""Contact details the marketplace publishes on the compacted topic `user-contacts`."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.contract.base import Command, Event

CONTEXT = "directory"


class UserContactUpdated(Event):
    """A person's contact details and channel preferences; the latest per user id wins."""

    TYPE: ClassVar[str] = "directory.UserContactUpdated.v1"
    TOPIC: ClassVar[str] = "user-contacts"

    user_id: str
    display_name: str = ""
    language: Literal["fa", "en"] = "fa"
    email: str | None = None
    phone: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    #: message kind (for example "escrow", "dispute", "payment", or "*") -> channels wanted
    channels: dict[str, list[Literal["email", "sms", "webhook"]]] = {"*": ["email"]}

    def kafka_key(self) -> str:
        return self.user_id


#: the marketplace sends no command to the directory: it only publishes contacts
COMMANDS: tuple[type[Command], ...] = ()
EVENTS: tuple[type[Event], ...] = (UserContactUpdated,)
