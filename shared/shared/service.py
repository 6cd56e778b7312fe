"""Assembles one service: broker, database, runtime, outbox relay, `/metrics`, health, lifecycle.

Startup: subscribe to the topics the service's handlers registered, connect the broker (retried
with backoff for as long as it is unreachable: the HTTP listener is up meanwhile, not ready), then
start the relay and background loops. SIGTERM: stop fetching, let in-flight handling finish, let
the loops finish the round in progress, flush the outbox, then close the broker and the database.

Health: `/health/ready` is true once all of that runs and the database and broker answer;
`/health/live` fails (503, naming what) once the consumer, the relay or a loop has died, so the
orchestrator restarts a process that would otherwise serve HTTP with nothing behind it.
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
        # a round in progress when stopping is set runs to its end; the wait between rounds does not
        while not stopping.is_set():
            try:
                busy = await round_()
            except Exception:
                log.exception("%s round failed", name)
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), interval.total_seconds())

    loop.__name__ = loop.__qualname__ = name
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
    #: the consumer, the relay and the loops have been started (the broker connected)
    _started: bool = False

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
            connect=self.connect_broker,
            fallback=Router(routes=self.http),
            asgi_routes=[
                ("/metrics", make_asgi_app(REGISTRY)),
                ("/health/live", _live(self)),
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
                    Record(
                        off_wire(r.topic, prefix),
                        r.partition,
                        r.offset,
                        r.key,
                        r.value,
                        tuple(r.headers) if r.value is None else (),
                    )
                    for r in records
                ]
            )

        self._subscriber = subscriber

    async def connect_broker(self) -> None:
        """Start the broker (connect, start the consumer), again and again with backoff while it
        is unreachable, until it starts or the service is stopped: a service started during a
        broker outage waits for the broker instead of serving on without a consumer."""
        s = self.settings
        delay, attempt = s.retry_initial_delay_ms / 1000, 0
        while not self.runtime.stopping.is_set():
            attempt += 1
            try:
                await self.broker.start()
            except Exception as error:
                log.warning(
                    "broker %s unreachable (attempt %d: %r); retrying in %.1f s",
                    s.kafka_bootstrap_servers,
                    attempt,
                    error,
                    delay,
                )
            else:
                if attempt > 1:
                    log.info("broker connected after %d attempts", attempt)
                return
            # a half-started broker (producer up, consumer not) is taken down to start afresh
            try:
                await self.broker.stop()
            except Exception:
                log.debug("stopping the half-started broker failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.runtime.stopping.wait(), delay)
            delay = min(delay * 2, s.retry_max_delay_ms / 1000)

    async def start_loops(self) -> None:
        if self.runtime.stopping.is_set():  # stopped while still connecting the broker
            return
        self.relay.start()
        for loop in self.loops:
            name = f"{self.settings.service_name}-{getattr(loop, '__name__', 'loop')}"
            self._tasks.append(asyncio.create_task(loop(self.runtime.stopping), name=name))
        self._started = True

    def running(self) -> bool:
        """The consumer, the relay and the loops run (started, none dead, not stopping)."""
        return self._started and not self.runtime.stopping.is_set() and not self.dead()

    def dead(self) -> dict[str, str]:
        """What should be running and is not (the consumer, the relay, a loop), each with why;
        empty while the broker is still connecting and once the service is stopping."""
        if not self._started or self.runtime.stopping.is_set():
            return {}
        dead: dict[str, str] = {}
        if self._subscriber is not None:
            # FastStream restarts a consume task that failed: one running task is enough
            consumers = list(getattr(self._subscriber, "tasks", []))
            if not any(not t.done() for t in consumers):
                dead["consumer"] = _why_stopped(consumers[-1] if consumers else None)
        relay = self.relay._task  # the relay keeps no public handle on its task
        if relay is None or relay.done():
            dead["relay"] = _why_stopped(relay)
        for task in self._tasks:
            if task.done():
                dead[task.get_name()] = _why_stopped(task)
        return dead

    async def drain(self) -> None:
        """SIGTERM: stop fetching (in-flight handling finishes), let each loop finish its round
        in progress (for `graceful_timeout_s` at most, then it is cancelled), publish what is
        committed, close what `on_stop` holds."""
        self.runtime.stopping.set()
        if isinstance(self._subscriber, LogicSubscriber):
            await self._subscriber.stop()
        if self._tasks:
            _, hung = await asyncio.wait(self._tasks, timeout=self.settings.graceful_timeout_s)
            for task in hung:
                log.warning("%s did not finish its round in time; cancelled", task.get_name())
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

    def __init__(
        self,
        *brokers: KafkaBroker,
        connect: Callable[[], Awaitable[None]],
        fallback: ASGIApp,
        **options: Any,
    ) -> None:
        super().__init__(*brokers, **options)
        self.connect = connect
        self.fallback = fallback

    async def _start_broker(self) -> None:
        # FastStream starts the broker once and, if that fails, ends the lifespan (which uvicorn
        # only logs, serving on); the service retries instead (`Service.connect_broker`)
        await self.connect()

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
    letter, no answer) on one record with a binary header. The runtime reads no header but a
    tombstone's (ASCII text, `shared.contract.tombstone`), so such headers are passed on with
    their undecodable bytes replaced; if the parser still fails on some header, the records go
    on without headers. Either way every record reaches the
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


def _why_stopped(task: asyncio.Task[Any] | None) -> str:
    if task is None:
        return "not running"
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return "returned" if error is None else f"failed: {error!r}"


def _live(service: Service) -> Any:
    @get(include_in_schema=False)
    async def live(scope: Scope) -> AsgiResponse:
        dead = service.dead()
        body = {"status": "dead", "dead": dead} if dead else {"status": "live"}
        return AsgiResponse(
            json.dumps(body).encode(),
            503 if dead else 200,
            headers={"content-type": "application/json"},
        )

    return live


def _ready(service: Service) -> Any:
    @get(include_in_schema=False)
    async def ready(scope: Scope) -> AsgiResponse:
        checks = {
            "running": service.running(),
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
