"""Test support of the payments service: in-process HTTP servers, the harness that runs the
service beside a sandbox gateway, ledger invariants, and a fake Zarinpal that follows its
documented API. Used by the service's tests and by the suite's end-to-end tests."""
