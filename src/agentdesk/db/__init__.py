"""The store: SQLModel tables, engines and sessions with the timeline guard, the search index, migrations."""
