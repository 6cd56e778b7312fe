"""The harness's side of the suite under faults: commands sent again under their own id until
answered, reads of the read APIs as an admin that ride out a service being down, and the PSP
calling the payments service back again when its callback failed (as real PSPs do).

Sending a command again under the same CloudEvents id is what makes resending safe: a copy the
paused broker still held, or a first send whose answer was only late, has no second effect
(the same id with the same body gets the stored result again)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from aiokafka.errors import KafkaError

from shared.auth import ActorAuth
from shared.bench.driver import EVENT_IDS, HEADERS, SOURCE, Answer
from shared.contract.base import Command
from shared.contract.envelope import new_event
from shared.contract.registry import COMMAND_RESULTS
from shared.fuzz.run import SturdyDriver
from shared.testing.reads import ADMIN

T = TypeVar("T")
REFUNDS = "refund-completed"
#: the sandbox gateway's development merchant secret (`payments.sandbox.signing.DEV_SECRET`),
#: which signs its callbacks in a suite started as `make run` starts it (or SANDBOX_SECRET)
SANDBOX_SECRET = os.environ.get("SANDBOX_SECRET", "escrow-suite development sandbox secret")
SANDBOX_SIGNATURE = "x-sandbox-signature"


class Stuck(Exception):
    """A step did not get where it had to within its bound."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


class ChaosDriver(SturdyDriver):
    """The fuzzer's sturdy driver, which also notes every `refund-completed` (refund ids by
    escrow: the read API is asked for each), and resends commands under their id."""

    def __init__(self, bootstrap_servers: str, private_key_pem: str) -> None:
        super().__init__(bootstrap_servers, private_key_pem, fetch_max_wait_ms=100)
        #: escrow id -> refund ids seen completed
        self.refunds: dict[str, set[str]] = defaultdict(set)
        self.counts["resent"] = 0

    async def start(self) -> None:
        # the bench's topics, and the refunds (subscriptions are not incremental: all of them)
        self.consumer.subscribe([COMMAND_RESULTS, REFUNDS, *EVENT_IDS])
        await super().start()

    def _dispatch(self, topic: str, value: bytes | None, at: float) -> None:
        if topic == REFUNDS:
            try:
                data = json.loads(value or b"")["data"]
                self.refunds[str(data["escrow_id"])].add(str(data["refund_id"]))
            except (ValueError, KeyError, TypeError):
                self.counts["dropped"] += 1
            return
        super()._dispatch(topic, value, at)

    async def execute(
        self, stage: str, command: Command, resend_s: float, timeout: float
    ) -> Answer:
        """Send until answered, each time under the same id; `Stuck` after `timeout`."""
        command_id = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        first = True
        try:
            while time.monotonic() < deadline:
                answer: asyncio.Future[Answer] = loop.create_future()
                self._answers[command_id] = answer
                value = new_event(
                    command,
                    source=SOURCE,
                    actortoken=self.token(command.actor),
                    event_id=command_id,
                ).encode()
                try:
                    ack = await self.producer.send(
                        command.TOPIC, value, key=command.kafka_key().encode(), headers=HEADERS
                    )
                    # a send that fails (the broker paused past the request timeout) is not
                    # waited on: the answer not coming sends it again
                    ack.add_done_callback(_seen)
                except KafkaError:
                    await asyncio.sleep(1.0)
                    continue
                self.counts["sent" if first else "resent"] += 1
                first = False
                wait = max(0.1, min(resend_s, deadline - time.monotonic()))
                try:
                    async with asyncio.timeout(wait):
                        return await answer
                except TimeoutError:
                    continue
            raise Stuck(stage, f"{type(command).__name__} unanswered")
        finally:
            self._answers.pop(command_id, None)


def _seen(ack: asyncio.Future[Any]) -> None:
    if not ack.cancelled():
        ack.exception()


class Reader:
    """GETs on the services' read APIs as an admin: a connection refused, a 5xx or a timeout
    (a service being restarted, its database down) is asked again; a 404 is None."""

    def __init__(self, urls: dict[str, str], private_key_pem: str) -> None:
        auth = ActorAuth(private_key_pem, ADMIN)
        self.clients = {
            name: httpx.AsyncClient(base_url=url, timeout=10, auth=auth)
            for name, url in urls.items()
        }
        self.reads = 0

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def get(self, service: str, path: str) -> dict[str, Any] | None:
        """One read, or raise `httpx.HTTPError` (also for a 5xx)."""
        self.reads += 1
        answer = await self.clients[service].get(path)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    async def until(
        self,
        stage: str,
        read: Callable[[], Awaitable[T | None]],
        timeout: float,
        what: str,
    ) -> T:
        """Poll `read` (its HTTP errors are waited out) until it gives something; `Stuck` after
        `timeout`. From 0.1 s the interval grows to 1 s."""
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            try:
                found = await read()
            except (httpx.HTTPError, ValueError):
                found = None
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise Stuck(stage, what)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)


def _sign(body: bytes) -> str:
    return hmac.new(SANDBOX_SECRET.encode(), body, hashlib.sha256).hexdigest()


async def call_back_again(sandbox: httpx.AsyncClient, token: str) -> bool:
    """The PSP's retry of a callback that failed: the sandbox's record of the payment, signed as
    the sandbox signs its callbacks, posted to the callback URL the payment was opened with.
    True when the payments service took it (a repeated callback is answered 200 too)."""
    state = (await sandbox.get("/state")).raise_for_status().json()
    payment = state["payments"][token]
    claim = {
        "token": payment["token"],
        "order_id": payment["order_id"],
        "status": payment["status"],
        "amount": payment["paid_amount"]
        if payment["paid_amount"] is not None
        else payment["amount"],
        "currency": payment["currency"],
        "reference": payment["reference"],
    }
    body = json.dumps(claim).encode()
    headers = {"content-type": "application/json", SANDBOX_SIGNATURE: _sign(body)}
    answer = await sandbox.post(payment["callback_url"], content=body, headers=headers)
    return 200 <= answer.status_code < 300
