"""Concrete adapters of the orders service: the event-store repository with its side tables, the queries,
the expiry timer handler and the translation to public contracts."""
