-- The leads' timers (re-applied whenever this file changes: shared/migrations.py, "rules"). Python side:
-- app/timers.py (timers_for: which timers a lead's state needs) and adapters/unit_of_work.py (compares them with
-- what is armed and queues the changes, typed in adapters/recorded_changes.py).

-- Which kernel timer stands for each (lead, kind) is mirrored in leads_timers (migrations/0002). Keys of p:
-- cancelled_timers (timer ids), disarmed ((lead, kind) that need no timer any more), armed (new timers, with a
-- fresh id: a cancelled or fired timer id is never reused, since the kernel only moves pending timers), moved
-- (a (lead, kind) whose armed timer_id gets a new due date: moved in place while it is still pending — one UPDATE,
-- where cancelling it and arming a fresh one was an UPDATE and an INSERT, and a cancelled row left behind for
-- every follow-up; a timer that fired or was cancelled meanwhile stays final, and fresh_id is armed instead).
CREATE OR REPLACE FUNCTION leads_record_timers(p jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    moved_ids text[];
BEGIN
    IF p ? 'moved' THEN
        -- By an array of ids (the primary key), then the rows: see the disarmed DELETE below.
        WITH moved AS (
            UPDATE timers t SET due_at = x.due_at, payload = x.payload
            FROM jsonb_to_recordset(p->'moved') AS x(timer_id text, due_at timestamptz, payload jsonb)
            WHERE t.timer_id = ANY (ARRAY(SELECT m->>'timer_id' FROM jsonb_array_elements(p->'moved') AS m))
              AND t.timer_id = x.timer_id AND t.status = 'pending'
            RETURNING t.timer_id
        )
        SELECT COALESCE(array_agg(moved.timer_id), '{}') INTO moved_ids FROM moved;
        IF cardinality(moved_ids) < jsonb_array_length(p->'moved') THEN
            PERFORM sf_schedule_timers(jsonb_agg(jsonb_build_object('timer_id', m->>'fresh_id', 'kind', m->>'kind',
                                                                    'due_at', m->'due_at', 'payload', m->'payload')))
                FROM jsonb_array_elements(p->'moved') AS m WHERE NOT (m->>'timer_id' = ANY (moved_ids));
        END IF;
        INSERT INTO leads_timers (lead_id, kind, timer_id, due_at, payload)
            SELECT x.lead_id, x.kind, CASE WHEN x.timer_id = ANY (moved_ids) THEN x.timer_id ELSE x.fresh_id END,
                   x.due_at, x.payload
            FROM jsonb_to_recordset(p->'moved')
                 AS x(lead_id text, kind text, timer_id text, fresh_id text, due_at timestamptz, payload jsonb)
            ON CONFLICT (lead_id, kind) DO UPDATE SET timer_id = EXCLUDED.timer_id, due_at = EXCLUDED.due_at,
                payload = EXCLUDED.payload;
    END IF;
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
