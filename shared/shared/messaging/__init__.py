"""The messaging runtime every service reuses (DESIGN.md §9): a transactional outbox and its
relay, an inbox that absorbs redeliveries, dead letters for what can never succeed, idempotent
authenticated commands with exactly one result, and retries for what is only transient."""
