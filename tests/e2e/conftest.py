"""The browser tests' fixtures (a Chromium, a desktop-sized tab, a serving `payouts serve`)
live in test_admin_ui; other browser test modules get them from here."""

from tests.e2e.test_admin_ui import browser, live, page

__all__ = ["browser", "live", "page"]
