"""The payments domain: pure money rules with no I/O.

`ledger` (double-entry accounts and balanced transactions), `payment` (a gateway payment from
start to received/failed), `payout` and `refund` (money leaving through a gateway, with retries),
`iban` (IBAN / Sheba checksums), `retry` (backoff schedules) and `errors` (business refusals).
"""
