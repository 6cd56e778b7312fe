"""Loads the suite's test fixtures (a real PostgreSQL and Kafka-protocol broker) for every test."""

pytest_plugins = ["shared.testing.fixtures"]
