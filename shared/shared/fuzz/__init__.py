"""`python -m shared.fuzz` (`make fuzz`): hostile input on every topic the suite consumes.

It starts the suite as `make run` ships it, on free ports in its own var directory (as the bench
does), puts money in the books, snapshots it, sends N records from a seeded random over every
consumed topic — random bytes, invalid JSON, JSON that is not a CloudEvent, CloudEvents with wrong
attributes, real types with random fields — then checks: no stall (every consumer group caught
up, bounded), no crash, every service answering within a second, no money moved and the books
reconciled, each service's RSS under the limit, every unreadable record dead-lettered with its
headers, every command answered. One table, `<var dir>/fuzz.json`, exit status 1 on any failure.

Modules: `options`, `topics` (what is fuzzed, from the contract), `values` and `tokens` (random
values and actor tokens), `records` (the five categories), `expect` (what the suite owes for a
record), `produce`, `seed` (money first), `money` (snapshots, reconciliation), `drain` (lag and
outboxes), `probes`, `outcomes` (dead letters and answers), `run` (the order of it all),
`checks`, `report`.
"""
