"""Schemathesis against the service's own /openapi.json: generated requests (valid and, in
its coverage phase, invalid ones) never get a 5xx, and every response fits the documented
schema. On SQLite only, to keep the run bounded; backend-specific input (NUL in text, which
PostgreSQL refuses) is covered on both backends in test_bad_input."""

from __future__ import annotations

import shutil
import tempfile
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
from tests.support.scenario import make_users, staked_challenge
from tests.support.tokens import ADMIN_TOKEN

STATUSES: Counter[int] = Counter()
# Per operation (16 of them): the whole run takes about 40 s on a busy 2-core machine.
MAX_EXAMPLES = 100


# The schema is loaded when the module is imported (schemathesis' lazy fixture loader does
# not work with this pytest); only /openapi.json is read then, the database comes later.
_DIRECTORY = Path(tempfile.mkdtemp(prefix="payouts-fuzz-"))
_SETTINGS = Settings(
    database_url=f"sqlite:///{_DIRECTORY / 'payouts.db'}",
    admin_token=ADMIN_TOKEN,
    embedded_worker=False,
)
_DB = Database(_SETTINGS.database_url)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(_SETTINGS, _DB, embedded_worker=False)
)


@pytest.fixture(scope="module", autouse=True)
def fuzz_database() -> Iterator[None]:
    migrate.upgrade(_DB)
    # Something to find: small ids exist, one challenge is resolved and has a job.
    make_users(_DB, [1_000_000] * 3)
    resolved, _, _ = staked_challenge(_DB, [100, 200], [300])
    staked_challenge(_DB, [50], [50])
    with _DB.write() as conn:
        challenges.resolve(conn, resolved, "challenger_won")
    yield
    _DB.dispose()
    # A run that never got past the token would prove nothing.
    assert STATUSES[401] == STATUSES[403] == 0, STATUSES
    assert sum(STATUSES.values()) == 0 or any(200 <= s < 300 for s in STATUSES), STATUSES
    shutil.rmtree(_DIRECTORY, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_responses_match_the_schema(case: schemathesis.Case) -> None:
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
    STATUSES[response.status_code] += 1
