"""Alembic environment of the disputes service."""

from shared.messaging.tables import metadata as messaging
from shared.migrations import run_env

from disputes.adapters.tables import metadata

run_env([metadata, messaging])
