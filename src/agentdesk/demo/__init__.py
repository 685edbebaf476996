"""The deterministic demo data set and its source data."""
