"""`escrowctl`, the suite's command line: sends signed commands and reads the services' APIs."""
