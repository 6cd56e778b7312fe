"""The escrow service: contracts, secure payments (escrows) and the ledger of what they hold."""
