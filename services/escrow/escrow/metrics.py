"""The escrow service's business metrics (the runtime's own are in shared.metrics)."""

from prometheus_client import Counter, Gauge

MONEY_HELD = Gauge("escrow_suite_money_held", "Money held in escrow, in minor units", ["currency"])
TRANSITIONS = Counter(
    "escrow_suite_escrow_transitions_total",
    "Escrow state transitions",
    ["from_state", "to_state"],
)
RELEASES = Counter("escrow_suite_releases_total", "Releases to contractors", ["currency"])
RELEASED_AMOUNT = Counter(
    "escrow_suite_released_amount_total", "Gross amount released, minor units", ["currency"]
)
REFUNDS = Counter("escrow_suite_escrow_refunds_total", "Refunds to employers", ["currency"])
REFUNDED_AMOUNT = Counter(
    "escrow_suite_escrow_refunded_amount_total", "Amount refunded, minor units", ["currency"]
)
FUNDING_REJECTED = Counter(
    "escrow_suite_funding_rejected_total", "Payments that could not fund their escrow", ["reason"]
)
TIMERS_FIRED = Counter("escrow_suite_timers_fired_total", "Timers fired", ["kind", "outcome"])
