"""Rules with no database and no UI: enums, money arithmetic, permissions, errors, validation, formatting."""
