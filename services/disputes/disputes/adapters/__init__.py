"""The disputes service's adapters: its database tables and the outside world."""
