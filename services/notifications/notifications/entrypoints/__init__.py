"""How messages and requests reach the notifications service: thin, they parse and call handlers."""
