"""What every service of the escrow suite shares: the wire contract, the messaging runtime
(outbox, inbox, dead letters, commands), settings, database and metrics helpers, the embedded
development stack and the `escrowctl` CLI. Business rules live in the services, never here."""
