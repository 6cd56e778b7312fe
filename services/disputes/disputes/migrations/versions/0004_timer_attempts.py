"""Timer attempts: how often each timer was tried, and when one was parked and why.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
from shared.timers import add_timer_attempts, drop_timer_attempts

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    add_timer_attempts(op, "dispute_timers")


def downgrade() -> None:
    drop_timer_attempts(op, "dispute_timers")
