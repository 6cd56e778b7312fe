"""Assembles one service: broker, database, runtime, outbox relay, `/metrics`, health, lifecycle.

Startup: subscribe to the topics the service's handlers registered, start the broker, start the
relay and background loops. SIGTERM: stop fetching, let in-flight handling finish, stop the loops,
flush the outbox, then close the broker and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import uvicorn
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.subscriber.usecase import LogicSubscriber
from prometheus_client import REGISTRY, make_asgi_app
from starlette.routing import BaseRoute, Router

from shared.auth import ActorTokenVerifier
from shared.clock import Clock, SystemClock
from shared.contract.registry import off_wire, on_wire
from shared.db import Database, migrate
from shared.http import Readers
from shared.messaging.deadletter import Record
from shared.messaging.kafka import make_broker
from shared.messaging.outbox import OutboxRelay
from shared.messaging.outbox import Send as Publish
from shared.messaging.retry import RetryPolicy
from shared.messaging.runtime import Runtime
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def polling(round_: Callable[[], Awaitable[int]], interval: timedelta, name: str) -> BackgroundLoop:
    """A loop that runs `round_` back to back while it finds work, else every `interval`;
    a failed round (the database may be away) is logged and tried again next time."""

    async def loop(stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                busy = await round_()
            except Exception:
                log.exception("%s round failed", name)
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), interval.total_seconds())

    return loop


@dataclass
class Service:
    """One running service; its handlers register on `runtime`, its loops on `loops`."""

    settings: ServiceSettings
    package: str
    db: Database
    broker: KafkaBroker
    runtime: Runtime
    relay: OutboxRelay
    clock: Clock
    #: whose bearer tokens the read API takes (`shared.http`)
    readers: Readers
    #: the service's HTTP read API on the internal listener, beside /metrics and health
    #: (Starlette routes, path parameters allowed)
    http: list[BaseRoute] = field(default_factory=list)
    #: routes the outside world calls (payments: the PSP callbacks), alone on the public listener
    public_http: list[BaseRoute] = field(default_factory=list)
    loops: list[BackgroundLoop] = field(default_factory=list)
    #: closed after the loops and the relay have stopped (long-lived HTTP clients, pools)
    on_stop: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    _app: AsgiFastStream | None = None
    _subscriber: Any = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def app(self) -> AsgiFastStream:
        """The ASGI app (one per service): FastStream's lifecycle, /metrics, health, HTTP API."""
        if self._app is None:
            self._app = self._build_app()
        return self._app

    def public_app(self) -> ASGIApp:
        """The public listener's app: `public_http` and nothing else (404 for any other path)."""
        return Router(routes=self.public_http)

    def _build_app(self) -> AsgiFastStream:
        return ServiceApp(
            self.broker,
            fallback=Router(routes=self.http),
            asgi_routes=[
                ("/metrics", make_asgi_app(REGISTRY)),
                ("/health/live", _live()),
                ("/health/ready", _ready(self)),
            ],
            on_startup=[self.subscribe],
            after_startup=[self.start_loops],
            on_shutdown=[self.drain],
            after_shutdown=[self.db.dispose],
        )

    def subscribe(self) -> None:
        """One batch consumer for every topic the handlers need (one group per service)."""
        if self._subscriber is not None or not self.runtime.topics:
            return
        s = self.settings
        subscriber = self.broker.subscriber(
            *(on_wire(t, s.topic_prefix) for t in self.runtime.topics),
            group_id=s.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
            max_poll_interval_ms=s.kafka_max_poll_interval_ms,
            batch=True,
            max_records=s.kafka_max_records,
            batch_timeout_ms=s.kafka_fetch_max_wait_ms,
            parser=_tolerant_headers,
            decoder=_undecoded,
        )
        runtime, prefix = self.runtime, s.topic_prefix

        @subscriber
        async def consume(body: Any, message: KafkaMessage) -> None:
            raw = message.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            await runtime.receive_batch(
                [
                    Record(off_wire(r.topic, prefix), r.partition, r.offset, r.key, r.value)
                    for r in records
                ]
            )

        self._subscriber = subscriber

    async def start_loops(self) -> None:
        self.relay.start()
        for loop in self.loops:
            self._tasks.append(asyncio.create_task(loop(self.runtime.stopping)))

    async def drain(self) -> None:
        self.runtime.stopping.set()
        if isinstance(self._subscriber, LogicSubscriber):
            await self._subscriber.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.relay.stop()
        for close in self.on_stop:
            try:
                await close()
            except Exception:
                log.exception("closing %r failed", close)


class ServiceApp(AsgiFastStream):
    """FastStream's ASGI app, whose unmatched paths go to the service's Starlette routes."""

    def __init__(self, *brokers: KafkaBroker, fallback: ASGIApp, **options: Any) -> None:
        super().__init__(*brokers, **options)
        self.fallback = fallback

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.fallback(scope, receive, send)


async def _undecoded(message: Any) -> Any:
    """Hand the raw bytes to the runtime, which owns parsing and dead-lettering."""
    return message.body


async def _tolerant_headers(
    records: tuple[ConsumerRecord[bytes, bytes], ...],
    parse: Callable[[tuple[ConsumerRecord[bytes, bytes], ...]], Awaitable[Any]],
) -> Any:
    """FastStream's parser reads every header as UTF-8 and would fail the whole batch (no dead
    letter, no answer) on one record with a binary header. The runtime reads no header, so such
    headers are passed on with their undecodable bytes replaced; if the parser still fails on
    some header, the records go on without headers. Either way every record reaches the
    runtime, which dead-letters what it cannot read."""
    try:
        return await parse(records)
    except Exception:
        log.warning("a fetched batch has headers FastStream cannot parse", exc_info=True)
    try:
        return await parse(tuple(_readable_headers(r) for r in records))
    except Exception:
        return await parse(tuple(dataclasses.replace(r, headers=[]) for r in records))


def _readable_headers(record: ConsumerRecord[bytes, bytes]) -> ConsumerRecord[bytes, bytes]:
    headers = [(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in record.headers]
    return dataclasses.replace(record, headers=headers)


def _live() -> Any:
    @get(include_in_schema=False)
    async def live(scope: Scope) -> AsgiResponse:
        return AsgiResponse(b'{"status":"live"}', 200, headers={"content-type": "application/json"})

    return live


def _ready(service: Service) -> Any:
    @get(include_in_schema=False)
    async def ready(scope: Scope) -> AsgiResponse:
        checks = {
            "database": await service.db.ping(),
            "broker": bool(await service.broker.ping(timeout=2.0)),
        }
        body = json.dumps({"ready": all(checks.values()), "checks": checks}).encode()
        status = 200 if all(checks.values()) else 503
        return AsgiResponse(body, status, headers={"content-type": "application/json"})

    return ready


def broker_sender(broker: KafkaBroker) -> Publish:
    async def send(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> object:
        return await broker.publish(value, topic, key=key, headers=headers)

    return send


def build_service(
    settings: ServiceSettings,
    *,
    package: str,
    context: str,
    refusals: tuple[type[Exception], ...] = (),
    clock: Clock | None = None,
) -> Service:
    """Wire a service from its settings; the caller then registers handlers, routes and loops."""
    db = Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        sealing=settings.sealing_ring(),
    )
    broker = make_broker(
        settings,
        middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name=settings.service_name)],
    )
    send = broker_sender(broker)
    relay = OutboxRelay(
        db,
        send,
        service=settings.service_name,
        topic_prefix=settings.topic_prefix,
        batch_size=settings.outbox_batch_size,
        poll_interval=settings.outbox_poll_interval_ms / 1000,
        retention=timedelta(hours=settings.outbox_retention_hours),
        inbox_retention=timedelta(seconds=settings.inbox_retention_s),
    )
    clock = clock or SystemClock()
    runtime = Runtime(
        service=settings.service_name,
        context=context,
        db=db,
        send=send,
        clock=clock,
        verifier=ActorTokenVerifier(
            settings.actor_token_keys(),
            audience=settings.actor_token_audience,
            issuer=settings.actor_token_issuer,
            leeway_s=settings.actor_token_leeway_s,
            max_lifetime_s=settings.actor_token_max_lifetime_s,
        ),
        max_record_age=timedelta(seconds=settings.max_record_age_s),
        signer=settings.signer(),
        keyring=settings.keyring(),
        refusals=refusals,
        retry=RetryPolicy(
            initial_delay=settings.retry_initial_delay_ms / 1000,
            max_delay=settings.retry_max_delay_ms / 1000,
            failure_attempts=settings.handler_failure_attempts,
        ),
        topic_prefix=settings.topic_prefix,
        on_commit=relay.nudge,
        max_lanes=settings.consumer_lanes,
        group_size=settings.group_commit_size,
        max_message_bytes=settings.max_message_bytes,
    )
    operator_keys = settings.operator_token_keys()
    readers = Readers(
        runtime.verifier,
        ActorTokenVerifier(operator_keys, max_lifetime_s=settings.actor_token_max_lifetime_s)
        if operator_keys
        else None,
    )
    return Service(settings, package, db, broker, runtime, relay, clock, readers)


#: loggers that write a request's full URL at INFO (Kavenegar's API key is in its path)
QUIET_LOGGERS = ("httpx", "httpcore")


def configure_logging() -> None:
    """A service's log: INFO and up, except what would write secrets in URLs."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(build: Callable[[], Service], argv: Sequence[str] | None = None) -> None:
    """`python -m <service> [serve|migrate]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    configure_logging()
    service = build()
    if args.command == "migrate":
        migrate(service.package, service.settings.database_url)
        return
    asyncio.run(serve(service))


class _PublicServer(uvicorn.Server):
    """The public listener: it leaves SIGTERM to the internal one, which stops it after itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(service: Service) -> None:
    """The internal listener (FastStream's lifecycle, the read API, /metrics, health) and, if
    the service has public routes, the public one beside it; both stop on SIGTERM."""
    s = service.settings

    def config(
        app: ASGIApp, host: str, port: int, lifespan: Literal["on", "off"]
    ) -> uvicorn.Config:
        return uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan=lifespan,
            log_level="warning",
            timeout_graceful_shutdown=int(s.graceful_timeout_s),
        )

    # FastStream's lifecycle runs with the internal listener only
    internal = uvicorn.Server(config(service.app(), s.http_host, s.http_port, "on"))
    if not service.public_http:
        await internal.serve()
        return
    public_app = service.public_app()
    public = _PublicServer(config(public_app, s.public_http_host, s.public_http_port, "off"))
    listening = asyncio.create_task(public.serve())
    # a public listener that stops (its port taken) stops the service: better restarted than
    # running without its callbacks
    listening.add_done_callback(lambda _: setattr(internal, "should_exit", True))
    try:
        await internal.serve()
    finally:
        public.should_exit = True
        await listening
