"""Rewards: eligibility, two-person approval, payment records and the ledger."""
