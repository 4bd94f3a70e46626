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
--
-- Positions follow versions without a sort: the INSERT reads one function scan and nothing else, and WITH
-- ORDINALITY numbers its rows in the order the scan returns them, which is the order they reach the INSERT and take
-- their identity positions — so version (current + ord) and position rise together by construction (the ORDER BY
-- e.ord that was here only added a Sort node and a subquery scan to every call).
--
-- The relay's wake-up is sent from here (0009_notify_from_append.sql dropped the statement trigger that did it):
-- the armed flag is read by the INSERT's own statement, as the trigger read it at the end of the INSERT, and
-- NOTIFY (delivered at commit, once per transaction) is sent if it was armed. Measured in-server, 1 event per call
-- (copies of events, interleaved, backend CPU from /proc/<pid>/schedstat, p25 of 20 rounds, load 6-7): 140 µs per
-- call with the trigger, 118 µs with no wake-up check at all, 125 µs with the check in the INSERT's statement — the
-- trigger's cost was its own statement and the trigger machinery, not reading the flag (before/after of the whole
-- function: bench/results/append-single-20261204.md). Every append goes through this function; a row written into
-- events by hand (tests, fills) wakes nobody, and the relay's poll still finds it.
CREATE OR REPLACE FUNCTION sf_append(p_requests jsonb) RETURNS TABLE (stream_id text, new_version integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    own       bigint;
    req       jsonb;
    s         text;
    expected  integer;
    current   integer;
    last_txid bigint;
    armed     boolean;
    wake      boolean := false;
    locked    text;  -- pg_advisory_xact_lock's void, as text: only so the lock can be an assignment
BEGIN
    -- One stream: lock it directly; several: in sorted order, so two transactions cannot deadlock. The single lock
    -- is an assignment, not PERFORM: PL/pgSQL evaluates it as a simple expression instead of running a query
    -- through SPI (executor start-up, a snapshot) for it; the lookup below is still a query of its own, so its
    -- snapshot is still taken after the lock is granted.
    IF jsonb_array_length(p_requests) = 1 THEN
        locked := pg_advisory_xact_lock(hashtextextended(p_requests -> 0 ->> 'stream_id', 7244))::text;
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
        -- A data-modifying WITH runs to completion whether or not the outer query reads it; the outer query is
        -- the wake-up flag, in the same statement (one statement per stream, as before the trigger went).
        WITH inserted AS (
            INSERT INTO events (event_id, stream_id, stream_type, version, event_type, schema_version, data,
                                metadata, occurred_at)
            SELECT e.event_id, s, req ->> 'stream_type', current + e.ord, e.event_type, e.schema_version, e.data,
                   e.metadata, e.occurred_at
            FROM ROWS FROM (jsonb_to_recordset(req -> 'events') AS (event_id uuid, event_type text,
                                                                     schema_version integer, data jsonb,
                                                                     metadata jsonb, occurred_at timestamptz))
                 WITH ORDINALITY AS e(event_id, event_type, schema_version, data, metadata, occurred_at, ord))
        SELECT w.armed INTO armed FROM relay_wakeup w WHERE w.channel = 'sf_events';
        wake := wake OR coalesce(armed, false);
        stream_id := s;
        new_version := current + jsonb_array_length(req -> 'events');
        RETURN NEXT;
    END LOOP;
    IF wake THEN
        PERFORM pg_notify('sf_events', '');
    END IF;
END;
$$;
