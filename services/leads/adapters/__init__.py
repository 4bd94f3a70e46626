"""Concrete adapters of the leads service: PostgreSQL event store repository, public-event translation."""
