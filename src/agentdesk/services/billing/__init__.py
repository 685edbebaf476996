"""Billing services (issue 12)."""
