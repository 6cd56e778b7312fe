"""How messages and requests reach the escrow service: thin, they parse and call handlers."""
