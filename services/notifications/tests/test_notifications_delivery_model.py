"""The pure parts of delivering: the retry schedule, a delivery's statuses, webhook signatures,
and which channels a contact wants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from notifications.domain.contacts import Contact
from notifications.domain.delivery import AlreadyFinal, Delivery, RetrySchedule, Status
from notifications.domain.signing import signature, signed_headers, verify

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SCHEDULE = RetrySchedule(3, initial=timedelta(seconds=10), ceiling=timedelta(seconds=25))


def pending() -> Delivery:
    return Delivery(
        id=1, channel="email", status=Status.PENDING, attempts=0, created_at=T0, due_at=T0
    )


def test_backoff_doubles_and_stops_at_its_ceiling():
    delays = [SCHEDULE.delay_after(n).total_seconds() for n in range(1, 5)]
    assert delays == [10, 20, 25, 25]


def test_failed_attempts_are_scheduled_again_until_the_attempts_run_out():
    delivery = pending()
    assert delivery.attempt_failed("451 busy", T0, SCHEDULE) is True
    assert (delivery.status, delivery.attempts, delivery.due_at) == (
        Status.PENDING,
        1,
        T0 + timedelta(seconds=10),
    )
    assert delivery.attempt_failed("451 busy", T0, SCHEDULE) is True
    assert delivery.due_at == T0 + timedelta(seconds=20)
    assert delivery.attempt_failed("HTTP 500", T0, SCHEDULE) is False
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        Status.FAILED,
        3,
        "HTTP 500",
    )


def test_a_permanent_refusal_fails_at_once_and_success_records_the_latency():
    refused = pending()
    assert refused.attempt_failed("550 no such user", T0, SCHEDULE, permanent=True) is False
    assert refused.status is Status.FAILED and refused.attempts == 1
    sent = pending()
    sent.succeeded(T0 + timedelta(seconds=3))
    assert sent.status is Status.SENT and sent.latency == timedelta(seconds=3)


def test_a_final_delivery_never_moves_again():
    delivery = pending()
    delivery.succeeded(T0)
    with pytest.raises(AlreadyFinal):
        delivery.attempt_failed("late error", T0, SCHEDULE)
    with pytest.raises(AlreadyFinal):
        delivery.succeeded(T0)


def test_a_signature_covers_timestamp_and_body_and_goes_stale():
    body = b'{"id":"e-1"}'
    headers = signed_headers("s3cret", 1_700_000_000, body)
    stamp, given = headers["x-escrow-timestamp"], headers["x-escrow-signature"]
    assert given == signature("s3cret", 1_700_000_000, body) and given.startswith("sha256=")
    assert verify("s3cret", stamp, body, given, now=1_700_000_100)
    assert not verify("s3cret", stamp, body + b" ", given, now=1_700_000_100)
    assert not verify("other", stamp, body, given, now=1_700_000_100)
    assert not verify("s3cret", "1700000001", body, given, now=1_700_000_100)
    assert not verify("s3cret", stamp, body, given, now=1_700_000_000 + 301)


def test_channels_are_chosen_per_kind_of_message_and_need_an_address():
    contact = Contact(
        user_id="u-1",
        email="u@example.org",
        webhook_url="https://example.org/hook",
        channels={"*": ["email"], "dispute": ["sms", "webhook", "email"]},
    )
    assert contact.channels_for("escrow") == ["email"]
    assert contact.channels_for("dispute") == ["email", "sms", "webhook"]
    assert contact.address("sms") is None  # no phone
    assert contact.address("webhook") is None  # a webhook without a secret is never used
    assert Contact(user_id="u-2", channels={"payment": ["sms"]}).channels_for("escrow") == []
