"""`python -m shared.bench` (`make bench`): a benchmark of the whole suite, as `make run` ships it.

It starts the suite on free ports in its own var directory, measures the floor of the servers it
runs on (PostgreSQL commits, Tansu produce / consume / round trip), then the escrow service alone
(closed and open loops of `OpenContract`), full lifecycles across the four services, and the CPU
and memory every process spends; prints one table and writes `<var dir>/bench.json`.

Modules: `options` (what to run), `suite` (start and stop the stack), `driver` (the Kafka side:
one producer, one consumer, answers matched by id), `floor`, `closed_loop`, `lifecycle`,
`open_loop` (the measurements), `resources` (psutil), `stats`, `results` (all of it, as JSON),
`report` (the table and the targets), `run` (the order of it all).
"""
