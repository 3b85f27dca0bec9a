"""Fixtures: a fresh, migrated database per test, on SQLite and on PostgreSQL.

SQLite tests copy a migrated template file; PostgreSQL tests CREATE DATABASE ... TEMPLATE a
migrated database made once per run, and drop it after. Without a reachable PostgreSQL the
PostgreSQL tests skip locally and fail under CI (CI=true): a skip there is a hole in CI.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from payouts.config import Settings
from payouts.storage import migrate
from payouts.storage.database import Database
from tests.support.tokens import ADMIN_TOKEN

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = Settings(
    database_url=os.environ.get(
        "PAYOUTS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
).database_url
_RUN = uuid.uuid4().hex[:8]


def unavailable(reason: str) -> None:
    """Skip locally; fail under CI, where every test must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must not skip)", pytrace=False)
    pytest.skip(reason)


def pg_url(database: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def pg_execute(statement: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "payouts.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"payouts_test_{_RUN}_template"
    try:
        pg_execute(f"CREATE DATABASE {name}")
    except Exception as exc:
        unavailable(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
    db = Database(pg_url(name))
    migrate.upgrade(db)
    db.dispose()
    yield name
    pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_counter = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "payouts.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"payouts_test_{_RUN}_{next(_counter)}"
    pg_execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield pg_url(name)
    pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        worker_interval_seconds=0.2,
        embedded_worker=False,
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url, pool_size=4)
    yield database
    database.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test is a failure: the suite must prove every backend."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped and exitstatus == 0:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = 1
