"""The one port every channel sits behind: `send(letter)` returns when the channel accepted the
message, or raises `ChannelError` saying whether trying again could help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from notifications.domain.rendering import Rendered


@dataclass(frozen=True)
class Letter:
    """One rendered message for one person on one channel."""

    delivery_id: int
    event_id: str
    user_id: str
    address: str  # an email address, a phone number or a webhook URL
    rendered: Rendered
    cloud_event: bytes  # the event as received, for webhooks
    secret: str | None = None  # the webhook's signing secret


class ChannelError(Exception):
    """The channel did not take the message; `permanent` when retrying cannot change that."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    async def send(self, letter: Letter) -> None: ...

    async def aclose(self) -> None:
        """Close the channel's connections (the service is stopping)."""
        ...
