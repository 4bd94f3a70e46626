-- Webhook subscriptions per client and the delivery queue (one row per subscription and public event).
-- The secret is kept as given: signing needs it (an HMAC cannot be made from a hash of the key).
CREATE TABLE webhook_subscriptions (
    subscription_id text PRIMARY KEY,
    client_id       text        NOT NULL,
    url             text        NOT NULL,
    event_types     text[]      NOT NULL,
    secret          text        NOT NULL,
    active          boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_types ON webhook_subscriptions USING gin (event_types) WHERE active;

-- Written in the consumer's transaction with the processed event id, so each event is queued once per
-- subscription (the UNIQUE key makes a replay under a new consumer harmless too). status: pending (due at
-- next_attempt_at), delivered, dead (gave up after max rounds: the subscription's dead letters, redeliverable).
CREATE TABLE webhook_deliveries (
    delivery_id     uuid PRIMARY KEY,
    subscription_id text        NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    body            bytea       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    rounds          integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    last_status     integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
