"""`make chaos`: mixed escrow lifecycles against the suite as `make run` ships it while services
are killed, the broker is paused, PostgreSQL is stopped hard and records are duplicated; then
every lifecycle must have ended as planned and the books must be exact (issue 14)."""
