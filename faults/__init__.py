"""The fault suite (`make faults`, DESIGN §11): the four services under open-loop load on a private PostgreSQL
cluster and Kafka broker, kill -9 of services, workers, the broker and the database, then reconciliation of every
acknowledged command against the event stores, the topics and the read models, and two disaster drills."""
