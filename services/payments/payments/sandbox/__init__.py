"""The sandbox gateway: a local payment service provider for development and tests.

It has the shape of a real PSP (create a payment and get a redirect URL, a page where the payer
pays or fails it, a signed server-to-server callback, verify, payouts to an IBAN, refunds) and
can be told to misbehave: fail or delay, duplicate or forge callbacks. `python -m payments.sandbox`
serves it on `SANDBOX_PORT` (default 8010).
"""
