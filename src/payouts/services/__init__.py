"""Use cases. Each takes a connection inside a transaction opened by its caller, and never
commits: the request or the worker batch decides where a transaction begins and ends."""
