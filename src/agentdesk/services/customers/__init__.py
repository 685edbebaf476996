"""Customers: records, look-up, search, filters, segments, columns, tags, export."""
