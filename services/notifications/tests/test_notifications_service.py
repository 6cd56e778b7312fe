"""The notifications service end to end over the real broker and database: events in, emails to
a real SMTP server, signed webhook calls to a real receiver, SMS to a fake of the provider."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from notifications.adapters.tables import contacts, notices
from notifications.cli import app as cli
from notifications.views import delivery_log
from prometheus_client import REGISTRY
from shared.auth import ActorAuth
from shared.client import SuiteClient
from shared.contract.base import Actor, Event, Role
from shared.contract.directory import UserContactUpdated
from shared.contract.envelope import CloudEvent
from shared.contract.escrow import EscrowFunded
from shared.contract.registry import dlq
from shared.contract.tombstone import TIME_HEADER, tombstone_headers
from shared.service import Service
from shared.signing import Signer
from shared.testing.events import forgeries, owned_event
from shared.testing.fixtures import eventually
from shared.testing.reads import ADMIN
from starlette.routing import Router
from typer.testing import CliRunner

pytestmark = pytest.mark.integration

MARKETPLACE = Signer.development("marketplace")
EMPLOYER = UserContactUpdated(
    user_id="emp-1", display_name="سارا", email="sara@example.org", language="fa"
)


async def publish(client: SuiteClient, message: Event, event_id: str | None = None) -> CloudEvent:
    envelope = owned_event(message, event_id=event_id)
    await client.publish(message.TOPIC, envelope.encode(), key=message.kafka_key())
    return envelope


async def deliveries(service: Service, **filters) -> list[dict]:
    async with service.db.transaction() as session:
        return await delivery_log(session, **filters)


async def settled(service: Service, event_id: str, count: int) -> bool:
    found = await deliveries(service, event_id=event_id)
    return len(found) >= count and all(d["status"] != "pending" for d in found)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_escrow_funded_emails_both_parties_and_calls_a_verified_webhook(
    start_service, client, smtp, webhook, funded
):
    receiver, url = webhook
    contractor = UserContactUpdated(
        user_id="con-1",
        display_name="Ali",
        language="en",
        email="ali@example.org",
        webhook_url=url,
        webhook_secret=receiver.secret,
        channels={"escrow": ["email", "webhook"], "*": ["email"]},
    )
    sent_before = metric("escrow_suite_notifications_total", channel="email", status="sent")
    async with start_service() as service:
        await publish(client, EMPLOYER)
        await publish(client, contractor)
        event = await publish(client, funded())
        await eventually(lambda: settled(service, event.id, 3))

        [to_employer] = smtp.to("sara@example.org")
        [to_contractor] = smtp.to("ali@example.org")
        assert (
            to_employer["Subject"]
            == "\u202bپرداخت شما برای پرداخت امن \u2066esc-1\u2069 دریافت شد\u202c"
        )
        assert "۱۲٬۵۰۰٬۰۰۰ ریال" in to_employer.get_body(("plain",)).get_content()
        assert to_contractor["Subject"] == "Secure payment esc-1 is funded"
        assert "12,500,000 rials" in to_contractor.get_body(("plain",)).get_content()
        assert to_employer["X-Escrow-Event-Id"] == event.id
        [call] = receiver.calls
        assert call["status"] == 204  # the receiver verified signature and timestamp
        assert call["event"]["id"] == event.id and call["event"]["type"] == EscrowFunded.TYPE
        statuses = {(d["user_id"], d["channel"]): d["status"] for d in await deliveries(service)}
        assert statuses == {
            ("emp-1", "email"): "sent",
            ("con-1", "email"): "sent",
            ("con-1", "webhook"): "sent",
        }
        assert smtp.connections == 1 and smtp.quits == 0  # both emails over one connection…
    assert smtp.quits == 1  # …which the stopping service closed
    sent_after = metric("escrow_suite_notifications_total", channel="email", status="sent")
    assert sent_after - sent_before == 2
    assert metric("escrow_suite_notification_delivery_seconds_count", channel="webhook") >= 1


async def test_a_duplicated_event_sends_no_second_email(start_service, client, smtp, funded):
    async with start_service() as service:
        await publish(client, EMPLOYER)
        first = await publish(client, funded())
        await publish(client, funded(), event_id=first.id)  # the same event again
        marker = await publish(client, funded("esc-2"))
        await eventually(lambda: settled(service, marker.id, 1))
        await eventually(lambda: settled(service, first.id, 1))
        ids = [m["X-Escrow-Event-Id"] for m in smtp.to("sara@example.org")]
        assert sorted(ids) == sorted([first.id, marker.id])
        assert len(await deliveries(service, event_id=first.id)) == 1


async def test_an_smtp_server_refusing_twice_then_accepting_delivers_one_email(
    start_service, client, smtp, funded
):
    smtp.refuse = 2
    retries_before = metric("escrow_suite_notification_retries_total", channel="email")
    async with start_service() as service:
        await publish(client, EMPLOYER)
        event = await publish(client, funded())
        await eventually(lambda: settled(service, event.id, 1))
        [delivery] = await deliveries(service, event_id=event.id)
        assert (delivery["status"], delivery["attempts"]) == ("sent", 3)
        assert "451" in delivery["last_error"]  # the last refusal stays on record
        assert smtp.refused == 2 and len(smtp.to("sara@example.org")) == 1
    assert metric("escrow_suite_notification_retries_total", channel="email") - retries_before == 2


async def test_a_user_without_contact_details_gets_the_message_once_they_arrive(
    start_service, client, smtp, funded
):
    async with start_service() as service:
        event = await publish(client, funded())

        async def waiting() -> bool:
            async with service.db.transaction() as session:
                states = await session.scalars(
                    sa.select(notices.c.state).where(notices.c.event_id == event.id)
                )
                return sorted(states) == ["waiting", "waiting"]

        await eventually(waiting)
        assert smtp.received == [] and await deliveries(service) == []
        await publish(client, EMPLOYER)
        await eventually(lambda: settled(service, event.id, 1))
        [message] = smtp.to("sara@example.org")
        assert message["X-Escrow-Event-Id"] == event.id


async def test_without_contact_details_in_time_the_message_is_undeliverable(
    start_service, client, smtp, funded
):
    before = metric("escrow_suite_notifications_undeliverable_total", channel="none")
    async with start_service(undeliverable_after_s=0.2) as service:
        event = await publish(client, funded())
        await eventually(lambda: settled(service, event.id, 2))
        found = await deliveries(service, event_id=event.id)
        assert {(d["channel"], d["status"]) for d in found} == {("none", "undeliverable")}
        assert all("no contact details" in d["last_error"] for d in found)
    assert metric("escrow_suite_notifications_undeliverable_total", channel="none") - before == 2


async def test_a_webhook_answering_500_is_retried_then_failed_with_the_status_only(
    start_service, client, smtp, webhook, funded, serve
):
    receiver, url = webhook
    receiver.answer, receiver.answer_body = 500, b"db password=hunter2"
    hooked = EMPLOYER.model_copy(
        update={
            "webhook_url": url,
            "webhook_secret": receiver.secret,
            "channels": {"*": ["webhook"]},
        }
    )
    async with start_service() as service:
        await publish(client, hooked)
        event = await publish(client, funded())
        await eventually(lambda: settled(service, event.id, 1))
        [delivery] = await deliveries(service, event_id=event.id)
        assert (delivery["channel"], delivery["status"]) == ("webhook", "failed")
        assert delivery["attempts"] == 3
        # the status only: the receiver's body is not ours to store and serve
        assert delivery["last_error"] == "webhook answered HTTP 500"
        async with (
            serve(Router(routes=service.http)) as api,
            httpx.AsyncClient(base_url=api, auth=ActorAuth(client.private_key_pem, ADMIN)) as http,
        ):
            served = await http.get("/deliveries", params={"event_id": event.id})
        assert "hunter2" not in served.text and "HTTP 500" in served.text
        # Every attempt was correctly signed (the receiver answers 401 otherwise).
        assert [c["status"] for c in receiver.calls] == [500, 500, 500]
        assert smtp.received == []


async def test_a_webhook_to_an_internal_address_fails_at_its_first_attempt_unsent(
    start_service, client, webhook, funded
):
    receiver, url = webhook  # on 127.0.0.1, where only this machine's services are
    hooked = EMPLOYER.model_copy(
        update={
            "webhook_url": url,
            "webhook_secret": receiver.secret,
            "channels": {"*": ["webhook"]},
        }
    )
    async with start_service(webhook_allow_private_targets=False) as service:
        await publish(client, hooked)
        event = await publish(client, funded())
        await eventually(lambda: settled(service, event.id, 1))
        [delivery] = await deliveries(service, event_id=event.id)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)  # no retry changes it
    assert delivery["last_error"] == "webhook target resolves to a non-public address"
    assert receiver.calls == []


async def test_sms_goes_through_the_provider_and_the_log_is_readable_by_api_and_cli(
    start_service, client, kavenegar, funded, serve, tmp_path
):
    fake, url = kavenegar
    texting = EMPLOYER.model_copy(update={"phone": "09121234567", "channels": {"*": ["sms"]}})
    async with start_service(sms_provider_url=url, sms_api_key=fake.api_key) as service:
        await publish(client, texting)
        event = await publish(client, funded())
        await eventually(lambda: settled(service, event.id, 1))
        [sms] = fake.sent
        assert sms["receptor"] == "09121234567" and "۱۲٬۵۰۰٬۰۰۰ ریال" in sms["message"]

        async with serve(Router(routes=service.http)) as api:
            async with httpx.AsyncClient(
                base_url=api, auth=ActorAuth(client.private_key_pem, ADMIN)
            ) as http:
                listed = (await http.get("/deliveries", params={"event_id": event.id})).json()
                [entry] = listed["deliveries"]
                one = (await http.get(f"/deliveries/{entry['id']}")).json()
                missing = await http.get("/deliveries/999999")
            key_file = tmp_path / "actor-token.key.pem"  # escrowctl reads with tokens it signs
            key_file.write_text(client.private_key_pem or "")
            runner = CliRunner(env={"ACTOR_TOKEN_PRIVATE_KEY_FILE": str(key_file)})
            shown = await asyncio.to_thread(
                runner.invoke, cli, ["deliveries", "--event-id", event.id, "--url", api]
            )
        assert entry["channel"] == "sms" and entry["status"] == "sent"
        assert one["template"] == "escrow_funded_employer" and one["user_id"] == "emp-1"
        assert missing.status_code == 404
        assert shown.exit_code == 0, shown.output
        assert "sent" in shown.output and "escrow_funded_employer" in shown.output


async def test_the_stopping_service_closes_its_webhook_and_sms_connections(
    start_service, client, kavenegar_server, webhook_receiver, funded
):
    provider, sms_server = kavenegar_server
    receiver, hook_server = webhook_receiver
    texting = EMPLOYER.model_copy(update={"phone": "09121234567", "channels": {"*": ["sms"]}})
    hooked = UserContactUpdated(
        user_id="con-1",
        display_name="Ali",
        webhook_url=hook_server.url + "/hook",
        webhook_secret=receiver.secret,
        channels={"*": ["webhook"]},
    )
    settings = {"sms_provider_url": sms_server.url, "sms_api_key": provider.api_key}
    async with start_service(**settings) as service:
        await publish(client, texting)
        await publish(client, hooked)
        event = await publish(client, funded())
        await eventually(lambda: settled(service, event.id, 2))
        assert len(provider.sent) == 1 and [c["status"] for c in receiver.calls] == [204]
        # each channel keeps its connection for the next message…
        assert sms_server.open_connections == 1 and hook_server.open_connections == 1
    # …until the service stops
    await sms_server.closed_by_client()
    await hook_server.closed_by_client()


# --- forged contacts (issue 12 point 4): one dated year 9999 once redirected a victim's mail
# for good; contacts are taken only from the marketplace, signed with its key


async def test_forged_contact_updates_redirect_no_mail(start_service, client, smtp, funded):
    redirect = UserContactUpdated(user_id="emp-1", email="attacker@evil.example", language="en")
    forged = [envelope for envelope, _ in forgeries(redirect).values()]
    # dated year 9999, so that no later genuine update would ever replace it
    forged += [e.model_copy(update={"time": datetime(9999, 1, 1, tzinfo=UTC)}) for e in forged]
    async with start_service():
        await publish(client, EMPLOYER)
        for envelope in forged:
            await client.publish(redirect.TOPIC, envelope.encode(), key="emp-1")
        dead = await client.watcher.wait_for(
            lambda: (
                len(client.watcher.on(dlq(redirect.TOPIC))) >= len(forged)
                and client.watcher.on(dlq(redirect.TOPIC))
            )
        )
        reasons = {dict(r.headers)["x-dlq-reason"] for r in dead}
        assert reasons == {b"bad_signature", b"wrong_source"}
        await publish(client, funded())
        await eventually(lambda: mailed(smtp, "sara@example.org"))
        assert not smtp.to("attacker@evil.example")


async def test_the_marketplace_s_genuine_update_still_changes_the_address(
    start_service, client, smtp, funded
):
    moved = UserContactUpdated(user_id="emp-1", email="sara@new.example", language="en")
    async with start_service():
        await publish(client, EMPLOYER)
        await client.publish(moved.TOPIC, owned_event(moved).encode(), key="emp-1")
        await publish(client, funded())
        await eventually(lambda: mailed(smtp, "sara@new.example"))
        assert not smtp.to("sara@example.org")


async def mailed(smtp, address: str) -> bool:
    return bool(smtp.to(address))


async def test_each_person_reads_only_the_deliveries_to_them(start_service, client, funded, serve):
    """The delivery log once answered anyone, every user's (issue 12 point 5)."""
    contractor = UserContactUpdated(user_id="con-1", email="ali@example.org", language="en")
    async with start_service() as service:
        await publish(client, EMPLOYER)
        await publish(client, contractor)
        event = await publish(client, funded())
        await eventually(lambda: settled(service, event.id, 2))
        key = client.private_key_pem or ""
        employer = Actor(user_id="emp-1", role=Role.EMPLOYER)
        outsider = Actor(user_id="con-9", role=Role.CONTRACTOR)

        async def read(actor: Actor | None, path: str, **params: str) -> httpx.Response:
            auth = ActorAuth(key, actor) if actor else None
            async with (
                serve(Router(routes=service.http)) as api,
                httpx.AsyncClient(base_url=api, auth=auth) as http,
            ):
                return await http.get(path, params=params)

        everyone = (await read(ADMIN, "/deliveries", event_id=event.id)).json()["deliveries"]
        assert {d["user_id"] for d in everyone} == {"emp-1", "con-1"}
        mine = (await read(employer, "/deliveries", event_id=event.id)).json()["deliveries"]
        assert {d["user_id"] for d in mine} == {"emp-1"}
        asked = await read(employer, "/deliveries", user_id="con-1")
        assert asked.json()["deliveries"] == []
        theirs = next(d["id"] for d in everyone if d["user_id"] == "con-1")
        assert (await read(employer, f"/deliveries/{theirs}")).status_code == 404
        assert (await read(outsider, "/deliveries")).json()["deliveries"] == []
        assert (await read(None, "/deliveries")).status_code == 401


async def erase(client: SuiteClient, user_id: str, at: datetime, signer: Signer) -> None:
    headers = tombstone_headers(UserContactUpdated.TOPIC, user_id, at, signer)
    await client.publish(UserContactUpdated.TOPIC, None, key=user_id, headers=headers)


async def contact_row(service: Service, user_id: str):
    async with service.db.transaction() as session:
        return (
            await session.execute(sa.select(contacts).where(contacts.c.user_id == user_id))
        ).one_or_none()


async def test_a_tombstone_on_user_contacts_erases_the_person_who_is_sent_nothing_more(
    start_service, client, smtp, funded
):
    """A tombstone was dead-lettered `empty`, the details kept and used (issue 15 point 7)."""
    original = owned_event(EMPLOYER)  # the details as first published, copied back later
    async with start_service() as service:
        await client.publish(EMPLOYER.TOPIC, original.encode(), key="emp-1")
        first = await publish(client, funded())
        await eventually(lambda: settled(service, first.id, 1))
        assert len(smtp.to("sara@example.org")) == 1

        await erase(client, "emp-1", datetime.now(UTC), MARKETPLACE)

        async def erased() -> bool:
            row = await contact_row(service, "emp-1")
            return row is not None and row.erased_at is not None

        await eventually(erased)
        row = await contact_row(service, "emp-1")
        assert (row.email, row.phone, row.webhook_url, row.webhook_secret) == (None,) * 4
        assert (row.display_name, row.channels) == ("", {})
        # the older details copied back lose to the erasure
        await client.publish(EMPLOYER.TOPIC, original.encode(), key="emp-1")
        second = await publish(client, funded("esc-2"))
        await eventually(lambda: settled(service, second.id, 1))
        [given_up] = await deliveries(service, event_id=second.id, user_id="emp-1")
        assert (given_up["channel"], given_up["status"]) == ("none", "undeliverable")
        assert given_up["last_error"] == "the person's contact details were erased"
        assert len(smtp.to("sara@example.org")) == 1  # nothing more
        assert (await contact_row(service, "emp-1")).erased_at is not None
        assert not client.watcher.on(dlq(EMPLOYER.TOPIC))

        # details the marketplace publishes after the erasure are used again
        back = UserContactUpdated(user_id="emp-1", email="sara@back.example", language="en")
        await publish(client, back)

        async def kept_again() -> bool:
            return (await contact_row(service, "emp-1")).erased_at is None

        await eventually(kept_again)  # an event before it would still find the person erased
        third = await publish(client, funded("esc-3"))
        await eventually(lambda: mailed(smtp, "sara@back.example"))
        assert [m["X-Escrow-Event-Id"] for m in smtp.to("sara@back.example")] == [third.id]


async def test_a_tombstone_not_signed_by_the_marketplace_erases_nothing(
    start_service, client, smtp, funded
):
    now = datetime.now(UTC)
    genuine = tombstone_headers(UserContactUpdated.TOPIC, "emp-1", now, MARKETPLACE)
    undated = {k: v for k, v in genuine.items() if k != TIME_HEADER}
    forged = tombstone_headers(
        UserContactUpdated.TOPIC, "emp-1", now, Signer.generate("marketplace", "dev")
    )
    by_escrow = tombstone_headers(
        UserContactUpdated.TOPIC, "emp-1", now, Signer.development("escrow")
    )
    of_another = tombstone_headers(UserContactUpdated.TOPIC, "con-1", now, MARKETPLACE)
    refused = [({}, "not_tombstone"), (undated, "not_tombstone"), (forged, "bad_signature")]
    refused += [(by_escrow, "bad_signature"), (of_another, "bad_signature")]
    async with start_service() as service:
        await publish(client, EMPLOYER)
        for headers, _ in refused:
            await client.publish(EMPLOYER.TOPIC, None, key="emp-1", headers=headers)
        dead = await client.watcher.wait_for(
            lambda: (
                len(client.watcher.on(dlq(EMPLOYER.TOPIC))) >= len(refused)
                and client.watcher.on(dlq(EMPLOYER.TOPIC))
            )
        )
        reasons = sorted(dict(r.headers)["x-dlq-reason"].decode() for r in dead)
        assert reasons == sorted(reason for _, reason in refused)
        event = await publish(client, funded())
        await eventually(lambda: mailed(smtp, "sara@example.org"))
        assert (await contact_row(service, "emp-1")).erased_at is None
        assert [m["X-Escrow-Event-Id"] for m in smtp.to("sara@example.org")] == [event.id]
