"""Business rules: permissions, customers, timeline, identity, demo data.

Every entry point takes the acting agent (`Actor`) first after the store,
checks its permission, and runs as one transaction. Nothing here imports Textual.
"""
