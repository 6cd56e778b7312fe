"""Runtime metrics every service exposes on `/metrics`, beside FastStream's own Kafka metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "escrow_suite"

OUTBOX_BACKLOG = Gauge(
    f"{PREFIX}_outbox_backlog", "Outbox messages committed but not yet published", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    f"{PREFIX}_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox message",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    f"{PREFIX}_outbox_published_total", "Outbox messages published", ["service", "topic"]
)
OUTBOX_PUBLISH_ERRORS = Counter(
    f"{PREFIX}_outbox_publish_errors_total", "Failed outbox publish batches", ["service"]
)
OUTBOX_QUARANTINED = Counter(
    f"{PREFIX}_outbox_quarantined_total",
    "Outbox messages the broker can never take (too large, invalid topic), set aside",
    ["service", "topic"],
)
OUTBOX_QUARANTINED_ROWS = Gauge(
    f"{PREFIX}_outbox_quarantined_rows",
    "Outbox messages set aside as unpublishable, waiting for an operator",
    ["service"],
)
INBOX_DUPLICATES = Counter(
    f"{PREFIX}_inbox_duplicates_total",
    "Redelivered messages the inbox absorbed without a second effect",
    ["service", "topic"],
)
INBOX_PRUNED = Counter(
    f"{PREFIX}_inbox_pruned_total",
    "Processed message ids forgotten after INBOX_RETENTION_S",
    ["service"],
)
DEAD_LETTERED = Counter(
    f"{PREFIX}_dead_lettered_total",
    "Messages sent to a dead-letter topic",
    ["service", "topic", "reason"],
)
TIMERS_PARKED = Counter(
    f"{PREFIX}_timers_parked_total",
    "Timers set aside after failing TIMER_MAX_ATTEMPTS times in a row, never fired again",
    ["service", "kind"],
)
TIMERS_PARKED_ROWS = Gauge(
    f"{PREFIX}_timers_parked_rows",
    "Parked timers waiting for an operator (read at the end of each timer round)",
    ["service"],
)
COMMAND_RESULTS = Counter(
    f"{PREFIX}_command_results_total",
    "Command results by command type, status and reason code",
    ["service", "command_type", "status", "reason_code"],
)
HANDLER_RETRIES = Counter(
    f"{PREFIX}_handler_retries_total",
    "Handling attempts retried after a failure",
    ["service", "topic", "error"],
)
HANDLING_SECONDS = Histogram(
    f"{PREFIX}_handling_seconds",
    "Time from fetching a consumed message to the commit of its effect, retries included",
    ["service", "topic"],
)
BATCH_RECORDS = Histogram(
    f"{PREFIX}_batch_records",
    "Records per consumed batch",
    ["service"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
BATCH_SECONDS = Histogram(
    f"{PREFIX}_batch_seconds",
    "Time to handle one consumed batch, from fetch to its last commit",
    ["service"],
)
