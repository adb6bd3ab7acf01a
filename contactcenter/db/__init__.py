"""Database access: typed tables, the session factory and migrations."""
