"""Kafka side of the kernel: message headers, topics, the outbox relay, the idempotent consumer, dead letters."""
