"""Schemathesis against the service's own /openapi.json: generated requests (valid and, in
its coverage phase, invalid ones) never get a 5xx, and every response fits the documented
schema. On SQLite only, to keep the run bounded; backend-specific input (NUL in text, which
PostgreSQL refuses) is covered on both backends in test_bad_input."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from payouts.app import create_app
from payouts.config import Settings
from payouts.services import challenges
from payouts.storage import migrate
from payouts.storage.database import Database
from tests.conftest import pg_execute, pg_url, unavailable
from tests.support.scenario import make_users, staked_challenge
from tests.support.tokens import ADMIN_TOKEN

STATUSES: dict[str, Counter[int]] = {"sqlite": Counter(), "postgres": Counter()}
# Per operation (16 of them): the SQLite run takes about 40 s on a busy 2-core machine; the
# PostgreSQL run, with fewer examples, about as long.
MAX_EXAMPLES = {"sqlite": 100, "postgres": 40}
_PG_NAME = f"payouts_fuzz_{uuid.uuid4().hex[:8]}"


# The schemas are loaded when the module is imported (schemathesis' lazy fixture loader does
# not work with this pytest); only /openapi.json is read then, the databases come later
# (an engine does not connect before its first use).
_DIRECTORY = Path(tempfile.mkdtemp(prefix="payouts-fuzz-"))
_URLS = {"sqlite": f"sqlite:///{_DIRECTORY / 'payouts.db'}", "postgres": pg_url(_PG_NAME)}
_DBS = {backend: Database(url) for backend, url in _URLS.items()}


def _schema(backend: str) -> schemathesis.schemas.BaseSchema:
    settings_ = Settings(
        database_url=_URLS[backend], admin_token=ADMIN_TOKEN, embedded_worker=False
    )
    app = create_app(settings_, _DBS[backend], embedded_worker=False)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


sqlite_schema = _schema("sqlite")
postgres_schema = _schema("postgres")


def _seed(db: Database) -> None:
    migrate.upgrade(db)
    # Something to find: small ids exist, one challenge is resolved and has a job.
    make_users(db, [1_000_000] * 3)
    resolved, _, _ = staked_challenge(db, [100, 200], [300])
    staked_challenge(db, [50], [50])
    with db.write() as conn:
        challenges.resolve(conn, resolved, "challenger_won")


def _check_run(backend: str) -> None:
    # A run that never got past the token would prove nothing.
    statuses = STATUSES[backend]
    assert statuses[401] == statuses[403] == 0, statuses
    assert sum(statuses.values()) == 0 or any(200 <= s < 300 for s in statuses), statuses


@pytest.fixture(scope="module")
def sqlite_fuzz_database() -> Iterator[None]:
    _seed(_DBS["sqlite"])
    yield
    _DBS["sqlite"].dispose()
    _check_run("sqlite")
    shutil.rmtree(_DIRECTORY, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_fuzz_database() -> Iterator[None]:
    try:
        pg_execute(f"CREATE DATABASE {_PG_NAME}")
    except Exception as exc:
        unavailable(f"PostgreSQL unreachable: {exc.__class__.__name__}")
    _seed(_DBS["postgres"])
    yield
    _DBS["postgres"].dispose()
    pg_execute(f"DROP DATABASE IF EXISTS {_PG_NAME} WITH (FORCE)")
    _check_run("postgres")


def _call(case: schemathesis.Case, backend: str) -> None:
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
    STATUSES[backend][response.status_code] += 1


@sqlite_schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES["sqlite"],
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_responses_match_the_schema(
    case: schemathesis.Case, sqlite_fuzz_database: None
) -> None:
    _call(case, "sqlite")


@postgres_schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES["postgres"],
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_responses_match_the_schema_on_postgresql(
    case: schemathesis.Case, postgres_fuzz_database: None
) -> None:
    _call(case, "postgres")
