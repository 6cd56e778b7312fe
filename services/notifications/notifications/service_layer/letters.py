"""A delivery's letter: the stored event re-read as its contract model, rendered in the
recipient's language, addressed for the delivery's channel."""

from __future__ import annotations

from shared.contract import registry
from shared.contract.envelope import CloudEvent

from notifications.adapters.channels import ChannelError, Letter
from notifications.adapters.repository import Notice
from notifications.domain.contacts import CHANNELS, Contact
from notifications.domain.facts import Presentation, facts
from notifications.domain.rendering import render


def compose(
    delivery_id: int, channel: str, notice: Notice, contact: Contact | None, look: Presentation
) -> Letter:
    if contact is None:
        raise ChannelError(f"no contact details for {notice.user_id}", permanent=True)
    address = contact.address(channel) if channel in CHANNELS else None
    if address is None:
        raise ChannelError(f"no {channel} address for {notice.user_id}", permanent=True)
    envelope = CloudEvent.model_validate(notice.event)
    spec = registry.spec(envelope.type)
    if spec is None:
        raise ChannelError(f"{envelope.type} is no longer a known event", permanent=True)
    event = spec.model.model_validate(envelope.data)
    values = facts(event, contact.language, look)
    return Letter(
        delivery_id=delivery_id,
        event_id=notice.event_id,
        user_id=notice.user_id,
        address=address,
        rendered=render(notice.template, contact.language, values, contact.display_name),
        cloud_event=envelope.encode(),
        secret=contact.webhook_secret,
    )
