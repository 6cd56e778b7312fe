"""Alembic environment of the notifications service."""

from shared.messaging.tables import metadata as messaging
from shared.migrations import run_env

from notifications.adapters.tables import metadata

run_env([metadata, messaging])
