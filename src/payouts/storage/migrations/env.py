"""Alembic environment: runs on the connection `payouts.storage.migrate` hands it."""

from alembic import context
from sqlalchemy import Connection, create_engine

from payouts.storage.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # plain `alembic` command line use
    from payouts.config import Settings

    with create_engine(Settings().database_url).begin() as conn:
        _run(conn)
