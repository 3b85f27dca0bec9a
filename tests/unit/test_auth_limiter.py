"""The failed-authentication limiter and the client address, on a fake clock."""

from __future__ import annotations

from payouts.web.guard import AuthFailureLimiter, client_address, parse_networks


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestLimiter:
    def test_blocks_at_the_limit_within_a_minute_and_only_that_address(self):
        clock = Clock()
        limiter = AuthFailureLimiter(3, clock)
        assert [limiter.failed("a") for _ in range(2)] == [0, 0]
        assert limiter.retry_after("a") == 0
        assert limiter.failed("a") == 60
        assert limiter.retry_after("a") == 60
        assert limiter.retry_after("b") == 0
        clock.now += 59.5
        assert limiter.retry_after("a") == 1
        clock.now += 0.5
        assert limiter.retry_after("a") == 0

    def test_failures_spread_over_more_than_a_minute_do_not_block(self):
        clock = Clock()
        limiter = AuthFailureLimiter(3, clock)
        for _ in range(10):
            assert limiter.failed("a") == 0
            clock.now += 31
        assert limiter.retry_after("a") == 0

    def test_the_cool_down_doubles_with_each_block_up_to_an_hour(self):
        clock = Clock()
        limiter = AuthFailureLimiter(2, clock)
        seen = []
        for _ in range(8):
            limiter.failed("a")
            seen.append(limiter.failed("a"))
            clock.now += seen[-1]
        assert seen == [60, 120, 240, 480, 960, 1920, 3600, 3600]

    def test_an_hour_without_failures_forgets_the_address(self):
        clock = Clock()
        limiter = AuthFailureLimiter(1, clock)
        assert limiter.failed("a") == 60
        clock.now += 3601
        assert limiter.failed("a") == 60  # a first block again, not a second


class TestClientAddress:
    def scope(self, peer: str, forwarded: str | None = None) -> dict[str, object]:
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
        return {"client": (peer, 1234), "headers": headers}

    def test_forwarded_for_is_ignored_by_default(self):
        assert client_address(self.scope("10.0.0.1", "6.6.6.6"), ()) == "10.0.0.1"

    def test_from_a_trusted_proxy_the_last_untrusted_hop_counts(self):
        trusted = parse_networks("10.0.0.0/8, 192.168.1.1")
        scope = self.scope("10.0.0.1", "6.6.6.6, 7.7.7.7, 192.168.1.1")
        assert client_address(scope, trusted) == "7.7.7.7"  # 6.6.6.6 may be spoofed

    def test_from_an_untrusted_peer_forwarded_for_is_ignored(self):
        trusted = parse_networks("10.0.0.0/8")
        assert client_address(self.scope("8.8.8.8", "7.7.7.7"), trusted) == "8.8.8.8"

    def test_a_trusted_proxy_without_the_header_is_the_address(self):
        assert client_address(self.scope("10.0.0.1"), parse_networks("10.0.0.1")) == "10.0.0.1"
