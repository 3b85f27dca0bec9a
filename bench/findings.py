"""What limits payouts where it misses a target, as diagnosed by hand (profiles, EXPLAIN,
experiments). RESULTS.md quotes a finding only while its target is still missed; each says
the commit it was diagnosed at, so a reader can tell when it may have gone stale."""

from __future__ import annotations

DIAGNOSED_AT = "commit 576b7a5 (main at 801aa94 plus the bench), 2026-11-29"

FINDINGS: dict[tuple[str, str], str] = {
    ("1. Payout throughput", "postgres"): (
        "Nearly all of payouts' time is the one statement that pays a batch"
        " (`_PAY_BATCH_POSTGRES` in src/payouts/storage/queue.py): 83% of a 20,000-winner"
        " run at batch 500 and 99% at batch 5,000 in pyinstrument. Its CTEs (`claimed`,"
        " `payees`, `credited`) are joined to one another; PostgreSQL has no statistics for"
        " CTE results, and none for a payout_entries table that was empty when last"
        " analysed, so it picks nested loops and a batch costs O(batch²): one 5,000-entry"
        " batch took 8.6 to 18.9 s under EXPLAIN ANALYZE, nearly all of it in `marked`'s"
        " Nested Loop Left Join of claimed x credited (25 million rows removed by the join"
        " filter) and `credited`'s Nested Loop Semi Join on `payees` (12.5 million); a"
        " 500-entry batch takes about 0.1 s. With fresh statistics it hash-joins"
        " instead but seq-scans users and payout_entries on every batch (O(table) per"
        " batch). The floor pays the same 5,000 entries, joined on the batch's id range,"
        " in about 0.3 s. The plan is printed under Profiles. Fix (src, lead): reach the"
        " batch's rows through indexed keys (an id range, or `= ANY(:ids)` after claiming)"
        " rather than joining CTE results to each other; drop `IN (SELECT id FROM payees)`"
        " and the `LEFT JOIN credited`."
    ),
    ("1. Payout throughput", "sqlite"): (
        "Payouts does the floor's SQL work in more, smaller pieces. Profile of 100,000"
        " winners at batch 500 (6.2 s): paying 4.6 s, of which about 1.7 s is Python"
        " outside the driver, building SQLAlchemy Core statements for every batch"
        " (`_pay_batch_sqlite` and `_record_progress`, about 8 ms a batch), and 1.4 s"
        " BEGIN IMMEDIATE + COMMIT (one fsync per batch, as in the floor); planning and"
        " materialising 1.3 s, because `compute_cutoff` reads every winning stake twice"
        " through the Python share functions and `materialise_chunk` a third time, where"
        " the floor computes each share once in one INSERT ... SELECT. At batch 5,000 the"
        " per-batch cost shrinks and materialising (30% of the run) is most of the gap."
        " Fix (src, lead): prebuilt statements (text() or cached Core) for the batch, and"
        " one pass over the stakes for plan + materialise."
    ),
    ("2. Resolve latency", "sqlite"): (
        "SQLite has one writer at a time and no queue: a resolve (BEGIN IMMEDIATE) that"
        " finds the lock taken sleeps in SQLite's busy handler (steps of 1, 2, 5, 10 ..."
        " 100 ms) and tries again, while the worker takes the lock again right after each"
        " commit, so a resolve can lose several rounds in a row. It is not one long"
        " transaction: cutting `PAYOUTS_MATERIALISE_CHUNK` from 20,000 to 2,000 left the"
        " 10-winner p99 at 120-225 ms (124-1,244 ms before) in two runs each. p50 stays at"
        " a few ms. Options (src, lead): let the worker pause briefly between write"
        " transactions when a request is waiting (an in-process lock shared with the API"
        " when the worker is embedded), or recommend PostgreSQL where resolve latency"
        " under load matters."
    ),
    ("4. Status endpoint", "sqlite"): (
        "Closed loop is a throughput test: by Little's law latency = pollers / rate, and"
        " one `payouts serve` process answers about 200-400 status requests a second here"
        " (2 cores shared with the worker, the pollers, the database and other work), so"
        " 100 pollers see a few hundred ms; p99 < 20 ms at 100 closed-loop pollers would"
        " need more than 5,000 requests a second. The paced run (the seed's UI rate) is"
        " what admins get. py-spy of the server under the closed loop shows"
        " `_sqlite_engine.<locals>._on_connect` (5 PRAGMAs and 2 functions per new"
        " connection): the SQLite engine keeps SQLAlchemy's default pool (5 + 10"
        " overflow) while the API runs 40 worker threads, so overflow connections are"
        " opened and closed per request. Fix (src, lead): size the SQLite pool to the"
        " thread pool (storage/database.py `_sqlite_engine`), and more `serve` processes"
        " behind a proxy for many pollers. The paced p99 on SQLite varied from 25 to 483 ms"
        " between runs; not diagnosed further (the connection churn above, which runs"
        " PRAGMAs on every new connection, is the first suspect)."
    ),
    ("4. Status endpoint", "postgres"): (
        "As on SQLite: closed loop measures one process's throughput (a few hundred"
        " requests a second here), so 100 pollers wait in line; the paced run is what"
        " admins get. Each request checks the token, opens a transaction, reads one row"
        " and serialises it through FastAPI and pydantic on one GIL."
    ),
    ("6. Scale-out", "postgres"): (
        "Every worker runs the batch statement of section 1, so more processes add little"
        " (1.2 to 1.5x from 1 to 2 processes, little more from 4, on 2 cores). Separately,"
        " `payouts worker --once` does not spread one job over processes: a `--once` worker"
        " exits as soon as a round finds nothing to claim, e.g. while another process holds"
        " the job's materialise lock (FOR UPDATE SKIP LOCKED) or before its entries exist,"
        " so all but one exit within seconds and one process pays the job (see Notes)."
        " Fix (src, lead): `run_until_idle` could keep going while any job is queued or"
        " running, instead of stopping at the first round with no progress."
    ),
}


def finding(section: str, backend: str) -> str | None:
    text = FINDINGS.get((section, backend))
    return f"{text} (Diagnosed at {DIAGNOSED_AT}.)" if text else None
