"""Reusable widgets: the windowed table, plain text, profile panes."""
