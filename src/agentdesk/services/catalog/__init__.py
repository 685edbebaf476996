"""Catalog services (issue 12)."""
