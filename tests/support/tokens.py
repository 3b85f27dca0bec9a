"""The tests' tokens, in one place."""

ADMIN_TOKEN = "test-admin-token"  # PAYOUTS_ADMIN_TOKEN of every test app and process
