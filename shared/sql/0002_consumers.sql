-- Idempotent consumers record each processed event id in the same transaction as the effect (DESIGN §3.3).
CREATE TABLE processed_messages (
    consumer        text        NOT NULL,
    event_id        uuid        NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Messages a consumer gave up on (DESIGN §3.4). Also published to <topic>.dlq; the table is what parks later
-- messages of the same key and what ops list, retry and skip.
CREATE TABLE dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer        text        NOT NULL,
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    "offset"        bigint      NOT NULL,
    message_key     text,
    event_id        text,
    event_type      text,
    reason          text        NOT NULL,
    attempts        integer     NOT NULL,
    -- 'parked': waiting behind an earlier dead letter of the same key; 'failed': the one that failed.
    kind            text        NOT NULL CHECK (kind IN ('failed', 'parked')),
    status          text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'retried', 'skipped')),
    headers         jsonb       NOT NULL,
    value           bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    -- A redelivered batch must not dead-letter the same record twice.
    CONSTRAINT dead_letters_record_unique UNIQUE (consumer, topic, partition, "offset")
);

CREATE INDEX dead_letters_open_keys ON dead_letters (consumer, message_key) WHERE status = 'open';
