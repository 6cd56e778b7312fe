"""Alembic environment of the payments service."""

from shared.messaging.tables import metadata as messaging
from shared.migrations import run_env

from payments.adapters.tables import metadata

run_env([metadata, messaging])
