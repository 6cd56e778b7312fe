"""The payments service: where money enters and leaves the platform.

Gateway payments, wallets and their ledger, payouts and refunds (DESIGN §4).
"""
