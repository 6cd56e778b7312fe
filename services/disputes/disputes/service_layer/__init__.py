"""The disputes service's use cases: commands, the saga with the escrow service, deadlines."""
