"""One command path for every service: the unit of work, its PostgreSQL and in-memory implementations, the
retry-on-conflict policy and the command runner (see shared/README.md, "Writing a command handler")."""
