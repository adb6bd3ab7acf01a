"""Alembic environment: runs on the connection handed over by contactcenter.db.migrate."""

from alembic import context

from contactcenter.db.models import Base

# Run through contactcenter.db.migrate (or `contactcenter migrate`), which hands over a connection;
# the plain `alembic` command is not wired up.
connection = context.config.attributes["connection"]


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Leave the full-text search tables (made by hand in 0001, FTS5 shadow tables on SQLite) alone."""
    return not (type_ == "table" and name is not None and name.startswith("ticket_search"))


context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True, include_object=include_object)
with context.begin_transaction():
    context.run_migrations()
