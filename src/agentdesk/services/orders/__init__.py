"""Orders services (issue 12)."""
