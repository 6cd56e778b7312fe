"""The Kafka side: one broker factory from settings, and topic creation."""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.contract.registry import COMPACTED_TOPICS, on_wire, topics_with_dlq
from shared.settings import ServiceSettings


def security_of(settings: ServiceSettings) -> BaseSecurity | None:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context: ssl.SSLContext | None = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
        if settings.kafka_ssl_certfile:
            context.load_cert_chain(
                str(settings.kafka_ssl_certfile),
                str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            )
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    user = settings.kafka_sasl_username or ""
    password = (
        settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    )
    use_ssl = protocol == "SASL_SSL"
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return sasl[settings.kafka_sasl_mechanism or "SCRAM-SHA-512"](
        user, password, ssl_context=context, use_ssl=use_ssl
    )


def make_broker(settings: ServiceSettings, *, middlewares: Sequence[Any] = ()) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers.split(","),
        client_id=settings.service_name,
        security=security_of(settings),
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
        graceful_timeout=settings.graceful_timeout_s,
        middlewares=tuple(middlewares),
    )


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    prefix: str = "",
    partitions: int = 3,
    replication_factor: int = 1,
) -> list[str]:
    """Create every topic and its dead-letter twin that does not exist yet; returns the created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [on_wire(t, prefix) for t in topics_with_dlq(topics)]
        missing = [
            NewTopic(
                name,
                partitions,
                replication_factor,
                topic_configs=(
                    {"cleanup.policy": "compact"}
                    if name.removeprefix(prefix) in COMPACTED_TOPICS
                    else {}
                ),
            )
            for name in wanted
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
        return [t.name for t in missing]
    finally:
        await admin.close()
