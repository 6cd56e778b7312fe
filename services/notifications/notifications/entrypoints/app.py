"""Builds the notifications service: every public event the rules name and the directory's
contacts are consumed, a background loop delivers, and the delivery log is served over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import partial

from shared.clock import Clock
from shared.contract.directory import UserContactUpdated
from shared.loops import scheduled
from shared.service import Service, build_service

from notifications.adapters.channels import Channel
from notifications.adapters.channels.email import EmailChannel
from notifications.adapters.channels.sms import KavenegarSms
from notifications.adapters.channels.webhook import WebhookChannel, any_address, public_only
from notifications.domain.delivery import RetrySchedule
from notifications.domain.facts import Presentation
from notifications.domain.rules import RULES
from notifications.entrypoints.http import routes
from notifications.service_layer.delivering import Deliverer
from notifications.service_layer.notices import erase_contact, notify, remember_contact
from notifications.settings import NotificationsSettings

CONTEXT = "notifications"


def build(
    settings: NotificationsSettings | None = None,
    *,
    clock: Clock | None = None,
    channels: Mapping[str, Channel] | None = None,
) -> Service:
    settings = settings or NotificationsSettings()
    service = build_service(settings, package="notifications", context=CONTEXT, clock=clock)
    if channels is None:
        channels = channels_from(settings, service.clock)
        # a caller's own channels stay the caller's to close
        service.on_stop.extend(channel.aclose for channel in channels.values())
    deliverer = Deliverer(
        db=service.db,
        channels=channels,
        clock=service.clock,
        schedule=RetrySchedule(
            max_attempts=settings.delivery_max_attempts,
            initial=timedelta(seconds=settings.delivery_initial_backoff_s),
            ceiling=timedelta(seconds=settings.delivery_max_backoff_s),
        ),
        presentation=Presentation(settings.amount_display, settings.persian_digits),
        lease=timedelta(seconds=settings.delivery_lease_s),
        batch_size=settings.delivery_batch_size,
    )
    _consume(service, settings)
    publish_nudge = service.runtime.on_commit

    def committed() -> None:
        publish_nudge()
        deliverer.nudge()

    service.runtime.on_commit = committed
    service.loops.append(
        scheduled(
            deliverer.run_once,
            "deliveries",
            clock=service.clock,
            max_idle=timedelta(milliseconds=settings.delivery_max_idle_ms),
            alarm=deliverer.alarm,
        )
    )
    service.http.extend(routes(service.db, service.readers))
    return service


def _consume(service: Service, settings: NotificationsSettings) -> None:
    waiting = timedelta(seconds=settings.undeliverable_after_s)
    for event in sorted({rule.event for rule in RULES}, key=lambda model: model.TYPE):
        service.runtime.on_event(event)(partial(notify, undeliverable_after=waiting))
    service.runtime.on_event(UserContactUpdated)(
        partial(remember_contact, default_language=settings.default_language)
    )
    service.runtime.on_tombstone(UserContactUpdated)(erase_contact)


def channels_from(settings: NotificationsSettings, clock: Clock) -> dict[str, Channel]:
    """The channels the settings configure; SMS only with a provider API key; webhooks only
    over https in production, and only to public addresses unless the settings allow more."""
    found: dict[str, Channel] = {
        "email": EmailChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            timeout_s=settings.smtp_timeout_s,
        ),
        "webhook": WebhookChannel(
            clock=clock,
            timeout_s=settings.webhook_timeout_s,
            https_only=settings.environment == "production",
            admit=any_address if settings.webhook_allow_private_targets else public_only,
        ),
    }
    if settings.sms_api_key:
        found["sms"] = KavenegarSms(
            base_url=settings.sms_provider_url,
            api_key=settings.sms_api_key.get_secret_value(),
            sender=settings.sms_sender,
            timeout_s=settings.sms_timeout_s,
        )
    return found
