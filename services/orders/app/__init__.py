"""Use cases of the orders service: command handlers working against ports (store, clock, ids, config)."""
