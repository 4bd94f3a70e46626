-- The event store, which is also the outbox (DESIGN §3.2): a command's events are committed once, here, and the
-- relay publishes them to Kafka afterwards.
CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction's id. The relay reads in (txid, position) order and only below the oldest
    -- running transaction, so an event that commits late can never be skipped (see shared/messaging/relay.py).
    txid            xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_type     text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, version)
);

CREATE INDEX events_commit_order ON events (txid, position);

-- Serialise writers per stream *before* the transaction gets its id, then report the stream's current
-- version. Advisory locks do not assign a transaction id, so the writer that wins a stream's lock also gets the
-- smaller txid; events of one stream therefore have increasing txids and the relay's (txid, position) order
-- is per-stream order. A caller whose transaction already wrote something (txid assigned) gets own_txid back
-- so the store can refuse an append that would break that rule.
CREATE FUNCTION sf_lock_streams(p_streams text[])
RETURNS TABLE (stream_id text, current_version integer, last_txid bigint, own_txid bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s text;
BEGIN
    -- Sorted order: two transactions locking the same streams cannot deadlock.
    FOR s IN SELECT DISTINCT x FROM unnest(p_streams) AS x ORDER BY x LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(s, 7244));
    END LOOP;
    -- A new statement, so a new snapshot (READ COMMITTED): it sees what earlier lock holders committed.
    RETURN QUERY
        SELECT u.s, COALESCE(e.version, 0), (e.txid::text)::bigint,
               (pg_current_xact_id_if_assigned()::text)::bigint
        FROM unnest(p_streams) AS u(s)
        LEFT JOIN LATERAL (
            SELECT ev.version, ev.txid FROM events ev
            WHERE ev.stream_id = u.s ORDER BY ev.version DESC LIMIT 1
        ) e ON true;
END;
$$;

-- Wake the relay when events commit (NOTIFY is delivered at commit, once per transaction and payload).
CREATE FUNCTION sf_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sf_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION sf_notify_events();

-- Where each relay got to: the last (txid, position) the broker acknowledged.
CREATE TABLE relay_checkpoints (
    relay           text PRIMARY KEY,
    last_txid       xid8        NOT NULL DEFAULT '0'::xid8,
    last_position   bigint      NOT NULL DEFAULT 0,
    published       bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
