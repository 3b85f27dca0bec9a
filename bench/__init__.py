"""The payouts benchmark suite: `python -m bench [--quick]` (or `make bench`).

It measures payouts against the seed's one-transaction-per-winner algorithm and against a
hand-written set-based floor, on the same data, and writes bench/RESULTS.md.
"""
