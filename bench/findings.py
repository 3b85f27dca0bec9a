"""What limits payouts where it misses a target, as diagnosed by hand (profiles, EXPLAIN,
experiments, reading the engine's code). RESULTS.md quotes a finding only while its target
is still missed; each says the commit it was diagnosed at, so a reader can tell when it may
have gone stale."""

from __future__ import annotations

DIAGNOSED_AT = "the issue 10 engine (pay straight from the stakes), 2026-12-03"

# What the profiles and experiments of issue 10 showed, written into every RESULTS.md.
PROFILE_CONCLUSIONS = [
    "**Before (7abe481).** A small job cost five write transactions over three worker rounds"
    " (mark running, plan, materialise, pay, complete), and every round re-read every active"
    " job: 2,000 queued jobs settled at about 110 jobs/s whatever their size. A big job wrote"
    " each entry twice (insert pending, update completed) and planned in a separate pass;"
    " per 500-winner batch on PostgreSQL the statement was about 10 ms plus a separate"
    " counter update, an active-jobs read and a pool ping.",
    "**Small jobs.** Settling up to BATCH_SIZE/2 queued small jobs in one statement (ranking"
    " the leftover coins with a window per job, crediting each player once with the sum of"
    " their wins) made the cost per job a few tens of microseconds: about 4,000 jobs/s with"
    " one worker on either database.",
    "**Big jobs, SQLite** (per-statement timing of a 100,000-winner job, in the worker"
    " process): per 500-winner slice, writing the entries 0.70 ms, the ledger rows 0.68 ms,"
    " crediting 0.28 ms, the commit 0.67 ms (one fsync: synchronous=FULL); planning"
    " (count and floors, cutoff sort, slice starts) about 0.6 ms per slice in all. py-spy:"
    " 63% of the worker's time in SQLite statements, 14% in commits, the rest Python. A"
    " bug found by the profile: the look at waiting work ran before every slice (bound"
    " methods compared with `is`); fixed, 5% of a batch. A 16-byte UUID and integer"
    " timestamps instead of SQLAlchemy's text forms, measured in a micro benchmark, changed"
    " the insert time by under 5%: not worth a storage migration.",
    "**Big jobs, PostgreSQL** (EXPLAIN ANALYZE of the slice statement, warm): 5.5-6.5 ms per"
    " 500 winners: locking the users in id order 1.0-1.3 ms, crediting them 1.4 ms, the"
    " entries 1.7-1.9 ms, the ledger rows 1.2 ms; 3,000 WAL records. With 2 worker"
    " processes pg_stat_activity shows no lock waits: the backends are CPU-bound (about"
    " 14 us of backend CPU per winner; the workers' own Python 1.5 us). Measured and kept:"
    " without the explicit ordered lock the planner joins users by a sequential scan (4x"
    " slower), and the lock is what keeps batches of different jobs that share players"
    " from deadlocking; dropping the (job_id, id) index of payout_entries gave +3-5% with 2"
    " workers but would make listing a big job's entries by id scan all of them. Turned"
    " off: JIT for every session (CTE estimates are far off; one JIT compile cost 900 ms),"
    " the pool ping in worker processes.",
]

FINDINGS: dict[tuple[str, str], str] = {
    ("1. Big jobs", "sqlite"): (
        "Per 500-winner slice the worker spends about 1.7 ms in the three statements that"
        " write (entries, credits, ledger), 0.7 ms committing (an fsync: synchronous=FULL, kept"
        " so a committed payout survives a power cut) and about 0.6 ms planning, amortised."
        " The floor writes the same rows; what it skips is the per-slice claim and delete, the"
        " check of each user's status (a join to users), the worker's look at other waiting"
        " work every 20 ms, the job's counters and log line, and, measured through `payouts"
        " serve`, the HTTP server in the same process. In the worker process alone (no"
        " server) the same job pays at 115-130k winners/s."
    ),
    ("1. Big jobs", "postgres"): (
        "The backends are CPU-bound at about 14 us per winner with 2 workers (no lock waits in"
        " pg_stat_activity); the slice statement costs 5.5-6.5 ms per 500 winners, of which"
        " locking the users in id order (1.0-1.3 ms) and checking their status are what the"
        " floor skips (it has one payer and no frozen users). Both are kept: without the"
        " ordered lock, batches of jobs that share players can deadlock (a 1 s stall each),"
        " and without the status check a frozen account would be credited. Dropping the"
        " (job_id, id) index of payout_entries measured +3-5% with 2 workers; kept, because"
        " listing a big job's entries by id needs it."
    ),
    ("3. Resolve latency", "sqlite"): (
        "The writers of one process queue on a lock of their own for SQLite's one write lock,"
        " and the worker steps aside while a request of its process waits; a resolve from"
        " another process polls for the lock. A p99 over 50 ms that remains comes from single"
        " slow requests while four processes (server, worker, load generator, database) share"
        " 2 cores; where resolve latency under load matters, use PostgreSQL."
    ),
    ("5. Status endpoint", "sqlite"): (
        "Closed loop is a throughput test: by Little's law latency = pollers / rate, and one"
        " `payouts serve` process answers several hundred status requests a second here (2"
        " cores shared with the worker, the pollers and the database), so 100 closed-loop"
        " pollers see a couple of hundred ms; p99 < 20 ms would need more than 5,000"
        " requests a second, i.e. several `serve` processes behind a proxy on more cores. The"
        " paced run (each poller every 2 s, the UI's rate) is what admins get."
    ),
    ("5. Status endpoint", "postgres"): (
        "As on SQLite: closed loop measures one process's throughput, so 100 pollers wait in"
        " line; the paced run is what admins get."
    ),
    ("7. Scale-out", "postgres"): (
        "2 worker processes pay about 1.4x what one does; 4 add nothing on 2 cores, where each"
        " worker's PostgreSQL backend is CPU-bound."
    ),
}


def finding(section: str, backend: str) -> str | None:
    text = FINDINGS.get((section, backend))
    return f"{text} (Diagnosed at {DIAGNOSED_AT}.)" if text else None
