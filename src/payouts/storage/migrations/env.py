"""Alembic environment: runs on the connection `payouts.storage.migrate` hands it."""

from alembic import context
from sqlalchemy import Connection

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
if connection is None:
    raise RuntimeError("run the migrations with `payouts migrate`, not the alembic command")
_run(connection)
