"""salesflow's shared kernel: event contracts, the event store, the outbox relay, the idempotent consumer,
Kafka wiring, settings, logging and migrations. Every service builds on it; it never imports a service."""
