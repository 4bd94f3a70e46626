"""Concrete adapters of the after-sales service: event-store repository with its read tables and timers,
queries over the read tables, translation to public contracts."""
