"""The admin web UI at /admin: server-rendered pages over the same services as the API."""
