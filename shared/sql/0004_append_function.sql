-- The whole append in one statement: lock the streams, check the expected versions, insert the events and
-- report the new versions. Called on its own (autocommit) it is one round trip and one transaction, instead of
-- BEGIN / lock / insert / COMMIT; called inside a caller's transaction it joins it.
--
-- Ordering argument (see also shared/messaging/relay.py): writers of a stream serialise on an advisory lock
-- taken before the transaction has an id (advisory locks assign none), so a stream's later writer gets the larger
-- txid — unless its transaction already had an id when it arrived, which is detected here ('SF002', retryable).
-- Expected version -1 means "any". A version mismatch raises 'SF001' with the details as JSON.
CREATE FUNCTION sf_append(
    p_stream_ids      text[],
    p_stream_types    text[],
    p_expected        integer[],
    p_event_stream    integer[],      -- per event: 1-based index into p_stream_ids
    p_event_ids       uuid[],
    p_event_types     text[],
    p_schema_versions integer[],
    p_data            jsonb[],
    p_metadata        jsonb[],
    p_occurred_at     timestamptz[]
) RETURNS TABLE (stream_id text, new_version integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s        text;
    own      bigint;
    current  integer[] := array_fill(0, ARRAY[cardinality(p_stream_ids)]);
    row      record;
BEGIN
    -- Sorted order: two transactions locking the same streams cannot deadlock.
    FOR s IN SELECT DISTINCT x FROM unnest(p_stream_ids) AS x ORDER BY x LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(s, 7244));
    END LOOP;
    own := (pg_current_xact_id_if_assigned()::text)::bigint;
    -- A new statement, so a new snapshot (READ COMMITTED): it sees what earlier lock holders committed.
    FOR row IN
        SELECT u.i, u.s, COALESCE(e.version, 0) AS version, (e.txid::text)::bigint AS txid
        FROM unnest(p_stream_ids) WITH ORDINALITY AS u(s, i)
        LEFT JOIN LATERAL (
            SELECT ev.version, ev.txid FROM events ev WHERE ev.stream_id = u.s ORDER BY ev.version DESC LIMIT 1
        ) e ON true
    LOOP
        IF p_expected[row.i] >= 0 AND p_expected[row.i] <> row.version THEN
            RAISE EXCEPTION 'stream % is at version %, expected %', row.s, row.version, p_expected[row.i]
                USING ERRCODE = 'SF001',
                      DETAIL = json_build_object('stream_id', row.s, 'expected', p_expected[row.i],
                                                 'actual', row.version)::text;
        END IF;
        IF own IS NOT NULL AND row.txid IS NOT NULL AND row.txid > own THEN
            RAISE EXCEPTION 'stream %: transaction % predates its last writer %', row.s, own, row.txid
                USING ERRCODE = 'SF002';
        END IF;
        current[row.i] := row.version;
    END LOOP;

    INSERT INTO events (event_id, stream_id, stream_type, version, event_type, schema_version, data, metadata,
                        occurred_at)
    SELECT x.event_id, p_stream_ids[x.si], p_stream_types[x.si],
           current[x.si] + row_number() OVER (PARTITION BY x.si ORDER BY x.ord),
           x.event_type, x.schema_version, x.data, x.metadata, x.occurred_at
    FROM unnest(p_event_stream, p_event_ids, p_event_types, p_schema_versions, p_data, p_metadata, p_occurred_at)
         WITH ORDINALITY AS x(si, event_id, event_type, schema_version, data, metadata, occurred_at, ord)
    ORDER BY x.ord;

    RETURN QUERY
        SELECT p_stream_ids[i], current[i] + (SELECT count(*)::integer FROM unnest(p_event_stream) AS es WHERE es = i)
        FROM generate_subscripts(p_stream_ids, 1) AS i;
END;
$$;

DROP FUNCTION sf_lock_streams(text[]);
