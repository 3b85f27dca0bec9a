"""What limits payouts where it misses a target, as diagnosed by hand (profiles, EXPLAIN,
experiments, reading the engine's code). RESULTS.md quotes a finding only while its target
is still missed; each says the commit it was diagnosed at, so a reader can tell when it may
have gone stale."""

from __future__ import annotations

DIAGNOSED_AT = "main after the SQLite prebuilt-SQL commit (e94bc99), 2026-11-29"
# the match-day findings: from the engine's code, before issue 10's worker rewrite
MATCH_DAY_DIAGNOSED_AT = "7abe481 (the engine before issue 10's rewrite), 2026-12-03"

MATCH_DAY_SETTLE = (
    "Not profiled; from the engine's code (worker/loop.py, storage/queue.py): a small job"
    " takes three of the worker's rounds and at least five write transactions, each with its"
    " own commit: mark it running, store its plan (after a read of its stakes), insert its"
    " entries, pay them, then find no more entries to insert and complete it. Every round"
    " also reads every active job (2,000 rows), and the worker advances each job one step per"
    " round. So the rate is about commits per second / 5, whatever the number of winners."
)

FINDINGS: dict[tuple[str, str], str] = {
    ("1. Big jobs", "postgres"): (
        "Fixed since the first run: the batch statement no longer joins CTE results to each"
        " other (O(batch\u00b2) nested loops); the ledger and entries lost their per-row"
        " foreign-key triggers (about 40% of a batch); entries and users got a fillfactor"
        " that makes marking and crediting HOT updates. What is left at batch 500 is per-batch"
        " cost, not per-entry cost: EXPLAIN ANALYZE of one 500-entry batch is about 10 ms"
        " (index nested loops throughout), and around it each batch pays a commit (WAL"
        " flush), a separate UPDATE of the job's counters (the floor folds it into its one"
        " statement and does not check for a finished job), a read of the active jobs per"
        " round (fair turns between jobs), pool pre-ping, and row locks (FOR UPDATE SKIP"
        " LOCKED, which lets several workers share a job; the floor has one payer and no"
        " locks). At batch 5,000 those costs are spread over ten times the entries and"
        " payouts is within 0.75-0.8x of the floor. Next step (src): fold the counter update"
        " into the batch statement and read the active jobs once per several batches."
        " (Measured then with the worker in the bench process, against a floor that"
        " materialised entries first; section 1 now runs worker processes against a floor that"
        " pays straight from the stakes.)"
    ),
    ("2. Match day", "sqlite"): (
        MATCH_DAY_SETTLE
        + " On SQLite each of those commits is an fsync (synchronous=FULL). The burst: every"
        " resolve is a write transaction (idempotency key, resolve, audit row, stored answer)"
        " with its own fsync, behind SQLite's one write lock, so resolves run one at a time"
        " however many clients send them; the embedded worker competes for that lock and for"
        " the same process's GIL (see the notes for how few of the burst's jobs it settled"
        " meanwhile)."
    ),
    ("2. Match day", "postgres"): (
        MATCH_DAY_SETTLE
        + " The two workers read the same job list in the same order and split the work only"
        " where one finds a job's lock taken. The burst: one `payouts serve` process answers"
        " all 7 clients from its thread pool under one GIL while two worker processes and"
        " PostgreSQL share the 2 cores."
    ),
    ("1. Big jobs", "sqlite"): (
        "Fixed since the first run: the SQLite batch runs prebuilt SQL text (building Core"
        " statements per batch cost about 8 ms a batch), which took paying a million winners"
        " from 13 s to 9 s here. What is left at batch 500: one fsync per commit"
        " (synchronous=FULL, kept so a committed payout survives a power cut; the floor"
        " pays the same), a 0.5 ms pause after each write so a waiting resolve can take"
        " SQLite's single write lock, and planning, which reads the winning stakes twice"
        " through the Python share functions (SQLite would turn the >64-bit products into"
        " floats) where the floor computes each share once, in the batch that pays it. (Measured"
        " then with the worker in the bench process; section 1 now runs `payouts serve`.)"
    ),
    ("3. Resolve latency", "sqlite"): (
        "SQLite has one writer and no queue for its lock; SQLite's own busy handler sleeps in"
        " growing steps (up to 100 ms) and missed the short gaps between a worker's batches."
        " Now a write transaction polls for the lock every half millisecond, the worker pauses"
        " 0.5 ms after each write, and materialising holds the lock for 5,000 winners at a"
        " time (about 25 ms). In a separate probe (40 resolves while a worker process paid a"
        " million winners) the slowest resolve took 38-50 ms and the median 4-11 ms. A p99"
        " over 50 ms that remains comes from single slow requests while four processes"
        " (server, worker, load generator, database) share 2 cores; where resolve latency"
        " under load matters, use PostgreSQL."
    ),
    ("5. Status endpoint", "sqlite"): (
        "Closed loop is a throughput test: by Little's law latency = pollers / rate, and"
        " one `payouts serve` process answers a few hundred status requests a second here"
        " (2 cores shared with the worker, the pollers and the database), so 100 closed-loop"
        " pollers see a few hundred ms; p99 < 20 ms would need more than 5,000 requests a"
        " second, i.e. several `serve` processes behind a proxy on more cores. The paced run"
        " (each poller every 2 s, the seed's UI rate) is what admins get. The SQLite pool is"
        " now as large as the API's thread pool, so requests no longer open and set up a new"
        " connection each under load."
    ),
    ("5. Status endpoint", "postgres"): (
        "As on SQLite: closed loop measures one process's throughput, so 100 pollers wait in"
        " line; the paced run is what admins get. Each request checks the token, opens a"
        " transaction, reads one row and serialises it through FastAPI and pydantic on one"
        " GIL; the paced p99 moves between about 14 and 30 ms from run to run with what else"
        " the 2 cores are doing."
    ),
    ("7. Scale-out", "postgres"): (
        "2 worker processes pay about 1.9x what one does; 4 add nothing on 2 cores, where each"
        " worker's PostgreSQL backend is CPU-bound. `payouts worker --once` now keeps working"
        " while any job is queued or running, so all processes share a job to its end."
    ),
}


def finding(section: str, backend: str) -> str | None:
    text = FINDINGS.get((section, backend))
    at = MATCH_DAY_DIAGNOSED_AT if section == "2. Match day" else DIAGNOSED_AT
    return f"{text} (Diagnosed at {at}.)" if text else None
