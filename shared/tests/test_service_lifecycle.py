"""A service's lifecycle over the real broker and database: it waits for a broker that is not
there yet (not ready meanwhile), says it is no longer alive once its consumer, relay or a loop has
died, and lets a loop's round in progress finish on drain.

No test bounds how long anything takes: each waits (generously) for a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from shared.clock import SystemClock
from shared.devstack.processes import free_port
from shared.loops import scheduled
from shared.service import Service
from shared.testing.fixtures import eventually
from shared.testing.harness import running
from shared.testing.probe import count_effects, create_tables, open_contract, probe_service

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


@contextlib.asynccontextmanager
async def forwarding(port: int, to: str) -> AsyncIterator[None]:
    """A listener on `port` that forwards each connection to `to` (the broker): before it is
    entered the port is closed, as a broker's address is while the broker is away."""
    host, target = to.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def forward(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(host, int(target))
        await asyncio.gather(pipe(client_r, broker_w), pipe(broker_r, client_w))

    server = await asyncio.start_server(forward, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


@contextlib.asynccontextmanager
async def serving(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """The service as `serve` runs it: uvicorn with FastStream's lifespan; yields an HTTP client."""
    s = service.settings
    config = uvicorn.Config(service.app(), host="127.0.0.1", port=s.http_port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{s.http_port}") as http:
            yield http
    finally:
        server.should_exit = True
        await task


async def health(http: httpx.AsyncClient, which: str) -> tuple[int, dict[str, Any]] | None:
    try:
        answer = await http.get(f"/health/{which}")
    except httpx.TransportError:
        return None  # not listening yet
    return answer.status_code, answer.json()


async def test_a_service_started_while_the_broker_is_away_connects_once_it_is_reachable(
    infra, database_url, topic_prefix, actor_keys, client, caplog
):
    caplog.set_level(logging.WARNING, logger="shared.service")
    await create_tables(database_url)
    address = free_port()
    service = probe_service(
        f"127.0.0.1:{address}",
        database_url,
        topic_prefix,
        [actor_keys.public_pem],
        http_port=free_port(),
    )
    async with serving(service) as http:
        await eventually(lambda: _answers(http, "ready"), timeout=60)
        # well past the first attempts: still alive (it is retrying), not ready, no consumer
        await eventually(lambda: _retried(caplog, 3), timeout=60)
        not_ready = await health(http, "ready")
        assert not_ready is not None
        status, body = not_ready
        assert status == 503
        assert body["ready"] is False
        assert body["checks"]["running"] is False
        assert body["checks"]["broker"] is False
        assert await health(http, "live") == (200, {"status": "live"})  # retrying, not dead

        async with forwarding(address, infra.bootstrap_servers):

            async def ready() -> bool:
                answer = await health(http, "ready")
                return answer is not None and answer[0] == 200

            await eventually(ready, timeout=120)
            result = await client.execute(open_contract("after-the-outage"), timeout=60)
            assert result.status == "accepted"
            assert await count_effects(service.db, "contract", "after-the-outage") == 1
            assert await health(http, "live") == (200, {"status": "live"})


async def _answers(http: httpx.AsyncClient, which: str) -> bool:
    return await health(http, which) is not None


async def _retried(caplog: pytest.LogCaptureFixture, attempts: int) -> bool:
    return sum("unreachable" in r.getMessage() for r in caplog.records) >= attempts


async def live(service: Service) -> tuple[int, dict[str, Any]]:
    transport = httpx.ASGITransport(app=service.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        answer = await http.get("/health/live")
        return answer.status_code, answer.json()


@pytest.fixture
async def probe(infra, database_url, topic_prefix, actor_keys):
    await create_tables(database_url)

    def build(**options: Any) -> Service:
        return probe_service(
            infra.bootstrap_servers,
            database_url,
            topic_prefix,
            [actor_keys.public_pem],
            kafka_group_id=f"test-{uuid.uuid4().hex[:10]}",
            **options,
        )

    return build


async def test_liveness_fails_when_a_loop_dies(probe):
    service = probe()
    broken = asyncio.Event()

    async def round_() -> None:
        await broken.wait()
        raise RuntimeError("the loop's own bug")

    async def doomed(stopping: asyncio.Event) -> None:
        await round_()  # a loop whose error escapes it ends its task

    service.loops.append(doomed)
    async with running(service):
        assert await live(service) == (200, {"status": "live"})
        broken.set()

        async def dead() -> bool:
            return (await live(service))[0] == 503

        await eventually(dead, timeout=60)
        _, body = await live(service)
        assert body["status"] == "dead"
        assert "the loop's own bug" in body["dead"]["probe-doomed"]


async def test_liveness_fails_when_the_relay_dies(probe):
    service = probe()
    async with running(service):
        assert await live(service) == (200, {"status": "live"})
        relay = service.relay._task
        assert relay is not None
        relay.cancel()

        async def dead() -> bool:
            return (await live(service))[0] == 503

        await eventually(dead, timeout=60)
        assert (await live(service))[1]["dead"] == {"relay": "cancelled"}
        # `OutboxRelay.stop` re-raises its task's end; the flush at stop still runs without it
        service.relay._task = None


async def test_liveness_fails_when_the_consumer_dies(probe):
    service = probe()
    async with running(service):
        assert await live(service) == (200, {"status": "live"})
        for task in service._subscriber.tasks:
            task.cancel()  # FastStream restarts a consume task that failed, not a cancelled one

        async def dead() -> bool:
            return (await live(service))[0] == 503

        await eventually(dead, timeout=60)
        assert (await live(service))[1]["dead"] == {"consumer": "cancelled"}


async def test_drain_lets_a_loops_round_in_progress_finish(probe):
    service = probe()
    entered, release, finished = asyncio.Event(), asyncio.Event(), []

    async def round_() -> None:
        entered.set()
        await release.wait()  # the round's work, still under way when drain starts
        finished.append("marker")

    service.loops.append(scheduled(round_, "slow", clock=SystemClock(), max_idle=HOUR))
    app = service.app()
    await app.start()
    await asyncio.wait_for(entered.wait(), 60)
    stopping = asyncio.create_task(app.stop())
    await asyncio.wait_for(service.runtime.stopping.wait(), 60)
    await asyncio.sleep(0.2)  # drain is waiting on the round, not cancelling it
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 60)
    assert finished == ["marker"]


async def test_drain_cancels_a_round_that_outlasts_the_graceful_timeout(probe):
    service = probe(graceful_timeout_s=0.5)
    entered, cancelled = asyncio.Event(), []

    async def hung() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("hung")
            raise

    service.loops.append(scheduled(hung, "hung", clock=SystemClock(), max_idle=HOUR))
    app = service.app()
    await app.start()
    await asyncio.wait_for(entered.wait(), 60)
    await asyncio.wait_for(app.stop(), 60)
    assert cancelled == ["hung"]
