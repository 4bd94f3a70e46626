-- The leads' timers (re-applied whenever this file changes: shared/migrations.py, "rules"). Python side:
-- app/timers.py (timers_for: which timers a lead's state needs) and adapters/unit_of_work.py (compares them with
-- what is armed and queues the changes, typed in adapters/recorded_changes.py).

-- Which kernel timer stands for each (lead, kind) is mirrored in leads_timers (migrations/0002). Keys of p:
-- cancelled_timers (timer ids), disarmed ((lead, kind) that need no timer any more), armed (new timers, with a
-- fresh id: a cancelled or fired timer id is never reused, since the kernel only moves pending timers).
CREATE OR REPLACE FUNCTION leads_record_timers(p jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p ? 'cancelled_timers' THEN
        PERFORM sf_cancel_timers(ARRAY(SELECT jsonb_array_elements_text(p->'cancelled_timers')));
    END IF;
    IF p ? 'disarmed' THEN
        -- By an array of lead ids (the primary key's prefix), then the pairs: a join against jsonb_to_recordset,
        -- which the planner guesses at 100 rows, was a hash join over a sequential scan of the whole table
        -- (rules/work_queue.sql has the figures).
        DELETE FROM leads_timers t
            WHERE t.lead_id = ANY (ARRAY(SELECT x->>'lead_id' FROM jsonb_array_elements(p->'disarmed') AS x))
              AND (t.lead_id, t.kind) IN (SELECT x.lead_id, x.kind
                                          FROM jsonb_to_recordset(p->'disarmed') AS x(lead_id text, kind text));
    END IF;
    IF p ? 'armed' THEN
        PERFORM sf_schedule_timers(p->'armed');
        INSERT INTO leads_timers (lead_id, kind, timer_id, due_at, payload)
            SELECT x.lead_id, x.kind, x.timer_id, x.due_at, x.payload
            FROM jsonb_to_recordset(p->'armed')
                 AS x(lead_id text, kind text, timer_id text, due_at timestamptz, payload jsonb)
            ON CONFLICT (lead_id, kind) DO UPDATE SET timer_id = EXCLUDED.timer_id, due_at = EXCLUDED.due_at,
                payload = EXCLUDED.payload;
    END IF;
END;
$$;
