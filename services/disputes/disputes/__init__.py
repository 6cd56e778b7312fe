"""Disputes service: arbitration (داوری) of escrows between an employer and a contractor."""
