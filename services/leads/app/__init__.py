"""Use cases of the leads service: command handlers working against ports (repository, clock, ids)."""
