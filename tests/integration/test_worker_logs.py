"""The worker's log lines: one per batch and per job transition, as text and as JSON."""

from __future__ import annotations

import json
import logging

import pytest

from payouts.telemetry.logs import JsonFormatter
from tests.support.jobs import failed_job, queued_job
from tests.support.scenario import worker


def lines(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, object]]:
    """The records of one event, as PAYOUTS_LOG_FORMAT=json would print them."""
    formatter = JsonFormatter()
    parsed = [json.loads(formatter.format(r)) for r in caplog.records]
    return [line for line in parsed if line.get("event") == event]


@pytest.mark.parametrize(
    ("winners", "batch_size"),
    [(10, 500), (100, 10)],
    ids=["settled-by-materialising", "settled-by-a-batch"],
)
def test_a_job_logs_its_transitions_once_and_every_batch(db, settings, caplog, winners, batch_size):
    caplog.set_level(logging.INFO, logger="payouts.worker")
    job_id = queued_job(db, winners=winners)
    worker(db, settings, batch_size=batch_size).run_until_idle()

    transitions = [t for t in lines(caplog, "job_transition") if t["job_id"] == str(job_id)]
    assert [t["to_status"] for t in transitions] == ["running", "completed"]
    assert transitions[0]["from_status"] == "queued"
    done = transitions[1]
    assert done["processed_winners"] == winners and done["failed_winners"] == 0
    assert done["total_winners"] == winners
    assert f"job {job_id} completed: {winners} paid, 0 failed" in done["message"]

    batches = [b for b in lines(caplog, "batch") if b["job_id"] == str(job_id)]
    assert len(batches) == -(-winners // batch_size)
    assert sum(b["paid"] for b in batches) == winners
    assert all(b["failed"] == 0 and b["coins"] > 0 for b in batches)
    assert batches[-1]["job_status"] in ("running", "completed")


def test_a_failed_job_logs_its_failure_with_counts(db, settings, caplog):
    caplog.set_level(logging.INFO, logger="payouts.worker")
    job_id, _ = failed_job(db, settings)
    [failure] = [t for t in lines(caplog, "job_transition") if t["to_status"] == "failed"]
    assert failure["job_id"] == str(job_id)
    assert failure["processed_winners"] == 9 and failure["failed_winners"] == 1
    assert "1 of 10 entries failed" in str(failure["error"])
    assert "failed: 9 paid, 1 failed of 10 winners" in str(failure["message"])
