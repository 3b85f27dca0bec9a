"""HTTP plumbing shared by the JSON API and the admin UI: request dependencies, the audited
write transaction, the session cookie, wire schemas, error mapping."""
