"""Each channel adapter against a real local server: an SMTP server (aiosmtpd), a webhook
receiver that checks signatures, and a fake of Kavenegar's SMS API. Every channel keeps one
connection alive across messages, seen from the server's side of the sockets."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from notifications.adapters.channels import ChannelError, Letter
from notifications.adapters.channels.email import EmailChannel
from notifications.adapters.channels.sms import KavenegarSms
from notifications.adapters.channels.webhook import WebhookChannel, any_address
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


def local_webhooks(clock: SystemClock | None = None) -> WebhookChannel:
    """A webhook channel allowed to reach the receivers on 127.0.0.1, as in `make run`."""
    return WebhookChannel(clock=clock or SystemClock(), admit=any_address)


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


def email_channel(smtp, **options) -> EmailChannel:
    """An email channel to the test server; its connection idles out only when a test asks."""
    options = {"idle_s": 600.0, **options}
    return EmailChannel(host=smtp.host, port=smtp.port, sender="no-reply@escrow.test", **options)


async def test_emails_go_over_one_smtp_connection_also_when_sent_concurrently(smtp, example_events):
    channel = email_channel(smtp)
    await channel.send(letter(example_events, "a@example.org"))
    await asyncio.gather(
        *(channel.send(letter(example_events, f"{n}@example.org")) for n in "bcde")
    )

    assert sorted(rcpts[0] for rcpts, _ in smtp.received) == [f"{n}@example.org" for n in "abcde"]
    assert smtp.connections == 1 and len(smtp.open) == 1 and smtp.quits == 0
    await channel.aclose()


async def test_closing_the_channel_quits_its_smtp_connection(smtp, example_events):
    channel = email_channel(smtp)
    await channel.send(letter(example_events, "a@example.org"))
    assert smtp.quits == 0 and len(smtp.open) == 1  # kept for the next message

    await channel.aclose()
    assert smtp.quits == 1
    await smtp.all_closed()


async def test_a_connection_the_server_hung_up_is_replaced_at_the_next_email(smtp, example_events):
    channel = email_channel(smtp)
    await channel.send(letter(example_events, "a@example.org"))
    smtp.hang_up()
    await smtp.all_closed()

    await channel.send(letter(example_events, "b@example.org"))
    assert len(smtp.received) == 2 and smtp.connections == 2
    await channel.aclose()


async def test_a_kept_connection_answering_421_is_replaced_and_the_email_sent_once_more(
    smtp, example_events
):
    channel = email_channel(smtp)
    await channel.send(letter(example_events, "a@example.org"))
    smtp.closing = 1  # the server is closing the kept connection: 421 to the next MAIL

    await channel.send(letter(example_events, "b@example.org"))
    assert [rcpts for rcpts, _ in smtp.received] == [["a@example.org"], ["b@example.org"]]
    assert smtp.connections == 2
    await channel.aclose()


async def test_a_dropped_connection_is_retried_only_once_and_a_new_ones_failure_not_at_all(
    smtp, example_events
):
    channel = email_channel(smtp)
    await channel.send(letter(example_events, "a@example.org"))
    smtp.closing = 3
    with pytest.raises(ChannelError) as kept:
        await channel.send(letter(example_events, "b@example.org"))
    assert not kept.value.permanent and "421" in str(kept.value)
    assert smtp.closing == 1 and smtp.connections == 2  # the kept one, then one new one

    with pytest.raises(ChannelError) as fresh:
        await channel.send(letter(example_events, "b@example.org"))
    assert not fresh.value.permanent and "421" in str(fresh.value)
    assert smtp.closing == 0 and smtp.connections == 3
    assert len(smtp.received) == 1


async def test_a_connection_lost_after_data_is_not_retried_the_server_may_have_the_email(
    smtp, example_events
):
    channel = email_channel(smtp)
    await channel.send(letter(example_events, "a@example.org"))
    smtp.hang_up_after_data = True
    with pytest.raises(ChannelError) as lost:
        await channel.send(letter(example_events, "b@example.org"))
    assert not lost.value.permanent and "SMTPServerDisconnected" in str(lost.value)
    assert len(smtp.to("b@example.org")) == 1 and smtp.connections == 1

    smtp.hang_up_after_data = False
    await channel.send(letter(example_events, "c@example.org"))
    assert len(smtp.received) == 3 and smtp.connections == 2
    await channel.aclose()


async def test_a_refused_recipient_is_final_and_the_connection_serves_the_next_email(
    smtp, example_events
):
    smtp.unknown = {"gone@example.org"}
    channel = email_channel(smtp)
    with pytest.raises(ChannelError) as refused:
        await channel.send(letter(example_events, "gone@example.org"))
    assert refused.value.permanent and "550" in str(refused.value)

    await channel.send(letter(example_events, "a@example.org"))
    assert [rcpts for rcpts, _ in smtp.received] == [["a@example.org"]]
    assert smtp.connections == 1
    await channel.aclose()


async def test_a_busy_reply_is_retryable_and_the_connection_serves_the_next_email(
    smtp, example_events
):
    smtp.refuse = 1
    channel = email_channel(smtp)
    with pytest.raises(ChannelError) as busy:
        await channel.send(letter(example_events, "a@example.org"))
    assert not busy.value.permanent and "451" in str(busy.value)

    await channel.send(letter(example_events, "a@example.org"))
    assert len(smtp.received) == 1 and smtp.connections == 1
    await channel.aclose()


async def test_a_connection_idle_past_idle_s_is_quit_and_a_new_one_opened(smtp, example_events):
    channel = email_channel(smtp, idle_s=0.05)
    await channel.send(letter(example_events, "a@example.org"))
    await asyncio.sleep(0.1)  # at least idle_s: any slower machine only waits longer

    await channel.send(letter(example_events, "b@example.org"))
    assert len(smtp.received) == 2 and smtp.connections == 2
    assert smtp.quits == 1  # the idle connection was closed politely, not dropped
    await channel.aclose()


async def test_emails_waiting_behind_a_stalled_server_fail_within_the_timeout(smtp, example_events):
    smtp.stall = True  # it never answers the end of DATA
    channel = email_channel(smtp, timeout_s=0.5)
    # The second waits from before the first reaches DATA, so it gives up first, whatever the
    # machine's speed.
    outcomes = await asyncio.gather(
        channel.send(letter(example_events, "a@example.org")),
        channel.send(letter(example_events, "b@example.org")),
        return_exceptions=True,
    )

    assert all(isinstance(o, ChannelError) and not o.permanent for o in outcomes)
    assert "busy" in str(outcomes[1]) and "Timeout" in str(outcomes[0])
    assert smtp.received == []


async def test_a_webhook_is_the_signed_cloudevent(webhook, example_events):
    receiver, url = webhook
    await local_webhooks().send(letter(example_events, url, secret=receiver.secret))
    [call] = receiver.calls
    assert call["status"] == 204
    assert call["event"]["id"] == "evt-42" and call["event"]["type"] == EscrowFunded.TYPE
    assert call["headers"]["content-type"] == "application/cloudevents+json"
    assert call["headers"]["x-escrow-delivery"] == "7"


async def test_a_webhook_with_a_stale_timestamp_or_wrong_secret_is_refused(webhook, example_events):
    receiver, url = webhook
    late = local_webhooks(SystemClock(offset=-timedelta(minutes=10)))
    with pytest.raises(ChannelError) as stale:
        await late.send(letter(example_events, url, secret=receiver.secret))
    assert stale.value.permanent and "HTTP 400" in str(stale.value)
    with pytest.raises(ChannelError) as forged:
        await local_webhooks().send(letter(example_events, url, secret="not-the-secret"))
    assert "HTTP 401" in str(forged.value)
    assert [c["status"] for c in receiver.calls] == [400, 401]


async def test_a_webhook_answering_500_is_retryable(webhook, example_events):
    receiver, url = webhook
    receiver.answer = 500
    with pytest.raises(ChannelError) as failed:
        await local_webhooks().send(letter(example_events, url, secret=receiver.secret))
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


async def test_a_kavenegar_refusal_keeps_its_documented_status_not_its_words(
    kavenegar, example_events
):
    fake, url = kavenegar
    fake.statuses = [418]  # answered with `"message": "no credit"`
    with pytest.raises(ChannelError) as refused:
        await KavenegarSms(base_url=url, api_key=fake.api_key).send(
            letter(example_events, "09121234567")
        )
    assert str(refused.value) == "kavenegar 418"


async def test_a_webhook_channel_sends_over_one_connection_until_closed(
    webhook_receiver, example_events
):
    receiver, served = webhook_receiver
    channel = local_webhooks()
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
        channel = local_webhooks()
        for _ in range(2):
            await channel.send(letter(example_events, url + "/hook", secret="s"))
        await channel.aclose()
    assert seen == [None, None]
