-- sf_append: the whole append in one statement — the current definition (re-applied whenever this file changes:
-- shared/migrations.py, "rules"). Its history is in the versioned migrations 0004 (created: the ordering
-- argument), 0006 (one jsonb document instead of ten arrays; measurements) and 0007 (per-stream statements with
-- cheap plans; measurements); change it here, not there. Caller: shared/eventstore/store.py.
--
-- The document is a JSON array of AppendRequest objects (shared/eventstore/records.py, field names as there):
--   [{"stream_id", "stream_type", "expected_version", "events": [{"event_id", "event_type", "schema_version",
--     "data", "metadata", "occurred_at"}, ...]}, ...]
-- A null expected_version means "any".
--
-- Ordering argument (see also shared/messaging/relay.py): writers of a stream serialise on an advisory lock taken
-- before the transaction has an id (advisory locks assign none), so a stream's later writer gets the larger txid —
-- unless its transaction already had an id when it arrived, which is detected here ('SF002', retryable). All locks
-- are taken before any version is read — one stream directly, several in one sorted statement, so two
-- transactions cannot deadlock; each lookup is a new statement, so a new snapshot (READ COMMITTED) that sees what
-- earlier lock holders committed; 'SF001' (version mismatch, details as JSON) and 'SF002' abort the whole call, so
-- a failure on a later stream also undoes the inserts of earlier ones; positions follow versions within a stream.
CREATE OR REPLACE FUNCTION sf_append(p_requests jsonb) RETURNS TABLE (stream_id text, new_version integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    own       bigint;
    req       jsonb;
    s         text;
    expected  integer;
    current   integer;
    last_txid bigint;
BEGIN
    -- One stream: lock it directly; several: in sorted order, so two transactions cannot deadlock.
    IF jsonb_array_length(p_requests) = 1 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_requests -> 0 ->> 'stream_id', 7244));
    ELSE
        PERFORM pg_advisory_xact_lock(hashtextextended(sorted.s, 7244))
        FROM (SELECT DISTINCT r ->> 'stream_id' AS s FROM jsonb_array_elements(p_requests) AS r ORDER BY 1) AS sorted;
    END IF;
    own := (pg_current_xact_id_if_assigned()::text)::bigint;
    FOR k IN 0 .. jsonb_array_length(p_requests) - 1 LOOP
        req := p_requests -> k;
        s := req ->> 'stream_id';
        expected := (req ->> 'expected_version')::integer;
        -- A new statement, so a new snapshot (READ COMMITTED): it sees what earlier lock holders committed.
        SELECT ev.version, (ev.txid::text)::bigint INTO current, last_txid
        FROM events ev WHERE ev.stream_id = s ORDER BY ev.version DESC LIMIT 1;
        current := COALESCE(current, 0);
        IF expected IS NOT NULL AND expected <> current THEN
            RAISE EXCEPTION 'stream % is at version %, expected %', s, current, expected
                USING ERRCODE = 'SF001',
                      DETAIL = json_build_object('stream_id', s, 'expected', expected, 'actual', current)::text;
        END IF;
        IF own IS NOT NULL AND last_txid IS NOT NULL AND last_txid > own THEN
            RAISE EXCEPTION 'stream %: transaction % predates its last writer %', s, own, last_txid
                USING ERRCODE = 'SF002';
        END IF;
        INSERT INTO events (event_id, stream_id, stream_type, version, event_type, schema_version, data, metadata,
                            occurred_at)
        SELECT e.event_id, s, req ->> 'stream_type', current + e.ord, e.event_type, e.schema_version, e.data,
               e.metadata, e.occurred_at
        FROM ROWS FROM (jsonb_to_recordset(req -> 'events') AS (event_id uuid, event_type text,
                                                                 schema_version integer, data jsonb, metadata jsonb,
                                                                 occurred_at timestamptz))
             WITH ORDINALITY AS e(event_id, event_type, schema_version, data, metadata, occurred_at, ord)
        ORDER BY e.ord;
        stream_id := s;
        new_version := current + jsonb_array_length(req -> 'events');
        RETURN NEXT;
    END LOOP;
END;
$$;
