"""Alembic environment of the escrow service."""

from shared.messaging.tables import metadata as messaging
from shared.migrations import run_env

from escrow.adapters.tables import metadata

run_env([metadata, messaging])
