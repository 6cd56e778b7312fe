"""Test support shared by every service's tests: one way to start the broker and databases
(`fixtures`, a pytest plugin loaded by the root conftest) and to run a service in-process."""
