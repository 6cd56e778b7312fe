"""A person's contact details and channel preferences, as the directory last published them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from notifications.domain.amounts import Language

ChannelName = Literal["email", "sms", "webhook"]
CHANNELS: tuple[ChannelName, ...] = ("email", "sms", "webhook")
#: the channel a delivery is recorded under when nobody could even be looked up
NO_CHANNEL = "none"
ANY_KIND = "*"


@dataclass(frozen=True)
class Contact:
    user_id: str
    language: Language = "fa"
    display_name: str = ""
    email: str | None = None
    phone: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    channels: dict[str, list[str]] = field(default_factory=lambda: {ANY_KIND: ["email"]})
    #: the directory erased this person (a tombstone): nothing is sent to them any more
    erased: bool = False

    def channels_for(self, kind: str) -> list[ChannelName]:
        """The channels wanted for a kind of message: its own entry, else the `*` entry."""
        if self.erased:
            return []
        wanted = self.channels.get(kind, self.channels.get(ANY_KIND, []))
        return [c for c in CHANNELS if c in wanted]

    def address(self, channel: ChannelName) -> str | None:
        """Where `channel` reaches this person; `None` when the details lack it."""
        if channel == "email":
            return self.email or None
        if channel == "sms":
            return self.phone or None
        # an unsigned webhook would let anyone forge our messages: no secret, no webhook
        return self.webhook_url if self.webhook_url and self.webhook_secret else None
