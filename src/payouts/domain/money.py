"""Money is an integer count of minor units (coins). Never a float."""

MAX_STAKE = 10**12
"""Largest single stake, and largest position of one user in one challenge, in coins."""

MAX_BALANCE = 10**15
"""Largest balance an admin may create a user with, in coins."""

MAX_POOL = 10**18
"""Largest total of all stakes in one challenge: keeps every pool, share and remainder
inside a signed 64-bit BIGINT (2**63 - 1 is about 9.2e18)."""

MAX_FEE_BPS = 10_000
"""Basis points: 10,000 bps = 100%."""
