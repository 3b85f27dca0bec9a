"""Everything that touches the database: tables, engine, hot-path SQL, migrations."""
