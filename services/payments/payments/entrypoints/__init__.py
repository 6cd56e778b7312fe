"""How messages and requests reach the payments service: thin, they parse and call handlers."""
