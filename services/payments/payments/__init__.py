"""The payments service: where money enters and leaves the platform: gateway payments, wallets, payouts and refunds."""
