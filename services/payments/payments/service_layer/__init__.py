"""The payments use cases: small handlers over the domain, the repository and the gateway port.

`funding` (StartPayment and gateway callbacks), `wallets` (released and settled escrow money),
`refunds` (refunds caused by escrow events, RetryRefund), `payouts` (RequestPayout), `transfers`
(the payout and refund workers), `posting` (the ledger guard), `views` (the read side).
"""
