"""Each channel adapter against a real local server: an SMTP server (aiosmtpd), a webhook
receiver that checks signatures, and a fake of Kavenegar's SMS API. The HTTP channels keep one
connection alive across messages, seen from the server's side of the sockets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from notifications.adapters.channels import ChannelError, Letter
from notifications.adapters.channels.email import EmailChannel
from notifications.adapters.channels.sms import KavenegarSms
from notifications.adapters.channels.webhook import WebhookChannel
from notifications.domain.facts import Presentation, facts
from notifications.domain.rendering import render
from shared.clock import SystemClock
from shared.contract.envelope import new_event
from shared.contract.escrow import EscrowFunded
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def letter(example_events, address: str, language: str = "fa", secret: str | None = None):
    event = example_events[EscrowFunded]
    rendered = render(
        "escrow_funded_contractor", language, facts(event, language, Presentation()), "مریم"
    )
    envelope = new_event(event, source="escrow", event_id="evt-42")
    return Letter(7, "evt-42", "con-1", address, rendered, envelope.encode(), secret)


async def test_email_arrives_with_recipient_subject_and_both_bodies(smtp, example_events):
    channel = EmailChannel(host=smtp.host, port=smtp.port, sender="Escrow <no-reply@escrow.test>")
    await channel.send(letter(example_events, "maryam@example.org"))

    [(recipients, message)] = smtp.received
    assert recipients == ["maryam@example.org"]
    assert message["From"] == "Escrow <no-reply@escrow.test>"
    assert message["Subject"] == "\u202bپرداخت امن \u2066esc-1\u2069 تأمین شد\u202c"
    assert message["X-Escrow-Event-Id"] == "evt-42"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "سلام مریم،" in text and "۱۲٬۵۰۰٬۰۰۰ ریال" in text
    assert 'dir="rtl"' in html and "۱۲٬۵۰۰٬۰۰۰ ریال" in html


async def test_a_busy_smtp_server_is_a_retryable_error_a_refusal_is_not(smtp, example_events):
    smtp.refuse = 1
    channel = EmailChannel(host=smtp.host, port=smtp.port, sender="no-reply@escrow.test")
    with pytest.raises(ChannelError) as busy:
        await channel.send(letter(example_events, "a@example.org"))
    assert not busy.value.permanent and "451" in str(busy.value)

    closed = EmailChannel(host="127.0.0.1", port=1, sender="no-reply@escrow.test", timeout_s=2)
    with pytest.raises(ChannelError) as unreachable:
        await closed.send(letter(example_events, "a@example.org"))
    assert not unreachable.value.permanent


async def test_a_webhook_is_the_signed_cloudevent(webhook, example_events):
    receiver, url = webhook
    await WebhookChannel(clock=SystemClock()).send(
        letter(example_events, url, secret=receiver.secret)
    )
    [call] = receiver.calls
    assert call["status"] == 204
    assert call["event"]["id"] == "evt-42" and call["event"]["type"] == EscrowFunded.TYPE
    assert call["headers"]["content-type"] == "application/cloudevents+json"
    assert call["headers"]["x-escrow-delivery"] == "7"


async def test_a_webhook_with_a_stale_timestamp_or_wrong_secret_is_refused(webhook, example_events):
    receiver, url = webhook
    late = WebhookChannel(clock=SystemClock(offset=-timedelta(minutes=10)))
    with pytest.raises(ChannelError) as stale:
        await late.send(letter(example_events, url, secret=receiver.secret))
    assert stale.value.permanent and "HTTP 400" in str(stale.value)
    with pytest.raises(ChannelError) as forged:
        await WebhookChannel(clock=SystemClock()).send(
            letter(example_events, url, secret="not-the-secret")
        )
    assert "HTTP 401" in str(forged.value)
    assert [c["status"] for c in receiver.calls] == [400, 401]


async def test_a_webhook_answering_500_is_retryable(webhook, example_events):
    receiver, url = webhook
    receiver.answer = 500
    with pytest.raises(ChannelError) as failed:
        await WebhookChannel(clock=SystemClock()).send(
            letter(example_events, url, secret=receiver.secret)
        )
    assert not failed.value.permanent and "HTTP 500" in str(failed.value)


async def test_sms_goes_through_kavenegars_send_api(kavenegar, example_events):
    fake, url = kavenegar
    sms = KavenegarSms(base_url=url, api_key=fake.api_key, sender="10004346")
    await sms.send(letter(example_events, "09121234567"))
    [sent] = fake.sent
    assert sent["receptor"] == "09121234567" and sent["sender"] == "10004346"
    assert sent["message"].startswith("\u200f") and "۱۲٬۵۰۰٬۰۰۰ ریال" in sent["message"]


async def test_a_kavenegar_refusal_is_an_error_that_never_shows_the_api_key(
    kavenegar, example_events
):
    fake, url = kavenegar
    fake.statuses = [418]
    sms = KavenegarSms(base_url=url, api_key=fake.api_key)
    with pytest.raises(ChannelError) as refused:
        await sms.send(letter(example_events, "09121234567", language="en"))
    assert "kavenegar 418" in str(refused.value) and fake.api_key not in str(refused.value)
    wrong_key = KavenegarSms(base_url=url, api_key="wrong")
    with pytest.raises(ChannelError) as unauthorised:
        await wrong_key.send(letter(example_events, "09121234567"))
    assert "401" in str(unauthorised.value)
    assert fake.sent == [] and json.dumps(fake.statuses) == "[]"


async def test_a_webhook_channel_sends_over_one_connection_until_closed(
    webhook_receiver, example_events
):
    receiver, served = webhook_receiver
    channel = WebhookChannel(clock=SystemClock())
    for _ in range(2):
        await channel.send(letter(example_events, served.url + "/hook", secret=receiver.secret))

    assert [c["status"] for c in receiver.calls] == [204, 204]
    assert len(served.peers) == 2 and served.connections == 1
    assert served.open_connections == 1  # kept alive for the next message

    await channel.aclose()
    assert channel.http.is_closed
    await served.closed_by_client()


async def test_an_sms_channel_sends_over_one_connection_until_closed(
    kavenegar_server, example_events
):
    fake, served = kavenegar_server
    sms = KavenegarSms(base_url=served.url, api_key=fake.api_key)
    for number in ("09121234567", "09127654321"):
        await sms.send(letter(example_events, number))

    assert [s["receptor"] for s in fake.sent] == ["09121234567", "09127654321"]
    assert len(served.peers) == 2 and served.connections == 1
    assert served.open_connections == 1

    await sms.aclose()
    assert sms.http.is_closed
    await served.closed_by_client()


async def test_a_webhook_answer_setting_a_cookie_does_not_follow_the_next_message(
    serve, example_events
):
    seen: list[str | None] = []

    async def receive(request: Request) -> Response:
        seen.append(request.headers.get("cookie"))
        response = Response(status_code=204)
        response.set_cookie("session", "from-the-receiver")
        return response

    app = Starlette(routes=[Route("/hook", receive, methods=["POST"])])
    async with serve(app) as url:
        channel = WebhookChannel(clock=SystemClock())
        for _ in range(2):
            await channel.send(letter(example_events, url + "/hook", secret="s"))
        await channel.aclose()
    assert seen == [None, None]
