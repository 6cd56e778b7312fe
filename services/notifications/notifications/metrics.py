"""The notifications service's own Prometheus metrics, beside the runtime's (`shared.metrics`)."""

from prometheus_client import Counter, Histogram

PREFIX = "escrow_suite"

NOTIFICATIONS = Counter(
    f"{PREFIX}_notifications_total",
    "Deliveries that reached a final status, by channel and status",
    ["channel", "status"],
)
DELIVERY_SECONDS = Histogram(
    f"{PREFIX}_notification_delivery_seconds",
    "From the delivery's creation to the channel accepting it, retries included",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600),
)
RETRIES = Counter(
    f"{PREFIX}_notification_retries_total",
    "Failed delivery attempts that were scheduled again",
    ["channel"],
)
UNDELIVERABLE = Counter(
    f"{PREFIX}_notifications_undeliverable_total",
    "Messages that could not be sent at all: no contact details, or no address for the channel",
    ["channel"],
)
