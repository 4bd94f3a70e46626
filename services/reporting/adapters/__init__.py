"""PostgreSQL read model of the reporting service."""
