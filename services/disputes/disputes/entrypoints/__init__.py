"""How messages and requests reach the disputes service: thin, they parse and call handlers."""
