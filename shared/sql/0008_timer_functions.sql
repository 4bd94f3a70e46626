-- Timer writes as SQL functions taking many timers at once, so a service can fold a command's timer changes into
-- one statement together with its other bookkeeping (one round trip instead of one per timer). shared/timers.py
-- calls the same functions, so the rules live in one place: a timer is only ever moved while still pending (a
-- fired or cancelled id is final), and cancelling touches pending timers only.
CREATE FUNCTION sf_schedule_timers(p_timers jsonb) RETURNS integer
LANGUAGE sql VOLATILE AS $$
    WITH written AS (
        INSERT INTO timers (timer_id, kind, due_at, payload)
        SELECT x.timer_id, x.kind, x.due_at, COALESCE(x.payload, '{}'::jsonb)
        FROM jsonb_to_recordset(COALESCE(p_timers, '[]'::jsonb))
             AS x(timer_id text, kind text, due_at timestamptz, payload jsonb)
        ON CONFLICT (timer_id) DO UPDATE SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload,
            kind = EXCLUDED.kind
        WHERE timers.status = 'pending'
        RETURNING 1
    )
    SELECT count(*)::integer FROM written
$$;

CREATE FUNCTION sf_cancel_timers(p_timer_ids text[]) RETURNS integer
LANGUAGE sql VOLATILE AS $$
    WITH cancelled AS (
        UPDATE timers SET status = 'cancelled' WHERE timer_id = ANY (p_timer_ids) AND status = 'pending'
        RETURNING 1
    )
    SELECT count(*)::integer FROM cancelled
$$;
