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


MERGED_AT = "aee1c98, events, pause, console and safety merged, 2026-12-03"

# Diagnosed again after issues 11, 13 and 14 landed on the issue 10 engine.
MERGED_FINDINGS: dict[tuple[str, str], str] = {
    ("2. Match day", "postgres"): (
        "py-spy on a burst (serve plus 2 workers, 6 clients and 1 staking): the server spends"
        " about two thirds of its samples waiting on PostgreSQL round trips. A keyed resolve"
        " is about 10 of them (begin, key claim, savepoint, resolve, job insert, the"
        " challenge.resolved event, release, stored response, audit row, commit), on 2 cores"
        " shared with the two workers, whose backends settle the burst's jobs meanwhile. The"
        " workers' job.completed events took 26% of their samples (read back, JSON in"
        " Python, a second round trip); one INSERT ... SELECT now builds them (small-job"
        " settle +12%), which did not move the burst measurably. Next: fewer round trips per"
        " keyed resolve (the savepoint, the separate event insert)."
    ),
    ("2. Match day", "sqlite"): (
        "At the target within the spread of runs (281-302 resolves/s; 304 and 390/s in"
        " earlier runs on a quieter machine): one `payouts serve` process answers the"
        " requests and pays the jobs, on 2 cores shared with the load generator. Not"
        " profiled again since issue 10 (see the profiles' conclusions)."
    ),
    ("3. Resolve latency", "sqlite"): (
        "The slow resolve is the first one sent after the background job starts paying."
        " strace on the server showed that request's WAL fdatasync taking 73-109 ms (0.1 ms"
        " on an idle disk) while the worker's first checkpoints after the big plan go to"
        " disk. wal_autocheckpoint at 100, 200, 1,000 or 5,000 pages, with or without"
        " checkpoints in the server, did not remove it (5,000 cost about 7% of big-job"
        " speed). The quick mode takes 3 to 10 resolves per size, so that one request is"
        " the run's p99; the other resolves take 2-10 ms."
    ),
}


def finding(section: str, backend: str) -> str | None:
    text = MERGED_FINDINGS.get((section, backend))
    if text:
        return f"{text} (Diagnosed at {MERGED_AT}.)"
    text = FINDINGS.get((section, backend))
    return f"{text} (Diagnosed at {DIAGNOSED_AT}.)" if text else None
