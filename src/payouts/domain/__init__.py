"""Pure domain logic: money rules, payout math and errors. No I/O here."""
