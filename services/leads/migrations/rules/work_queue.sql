-- The work queue's rows (re-applied whenever this file changes: shared/migrations.py, "rules"). Python side:
-- domain/work_queue.py (what is due, item ids), adapters/recorded_changes.py (the payload's keys).

-- Lists from p are matched with = ANY (ARRAY(...)), not IN (SELECT jsonb_array_elements_text(...)): the planner
-- guesses 100 rows for a set-returning function, so the cached plan of IN (...) hash-joined a sequential scan of
-- the whole table against them up to tens of thousands of rows (1.5 ms at 3,000 rows against 0.05 ms for the index
-- scan, EXPLAIN ANALYZE of the generic plan); an array's guess is 10 elements, and the index is taken.

-- Keys of p: work_leads (lead ids whose own work was recomputed) with work_kinds (the kinds a lead's state decides:
-- their rows of those leads are replaced), work_items (rows to insert or update), finished_work (item ids done).
-- The deletes match = ANY (ARRAY(...)), not IN (SELECT jsonb_array_elements_text(...)): the planner takes a set
-- returning function for 100 rows and planned IN as a hash semi-join over a sequential scan of the whole table —
-- with statistics too — on every command that touches a lead's work (e2e at 50/s: 0.66 scans of ~2,200 rows per
-- request, bench/e2e_step.py). An array from an InitPlan is one index condition (leads_work_items_lead, the key).
CREATE OR REPLACE FUNCTION leads_record_work(p jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p ? 'work_leads' THEN
        DELETE FROM leads_work_items w
            WHERE w.lead_id = ANY (ARRAY(SELECT jsonb_array_elements_text(p->'work_leads')))
              AND w.kind = ANY (ARRAY(SELECT jsonb_array_elements_text(p->'work_kinds')));
    END IF;
    IF p ? 'work_items' THEN
        INSERT INTO leads_work_items (item_id, kind, lead_id, due_at, overdue_at, detail, assignee_id)
            SELECT x.item_id, x.kind, x.lead_id, x.due_at, x.overdue_at, x.detail, x.assignee_id
            FROM jsonb_populate_recordset(NULL::leads_work_items, p->'work_items') AS x
            ON CONFLICT (item_id) DO UPDATE SET kind = EXCLUDED.kind, lead_id = EXCLUDED.lead_id,
                due_at = EXCLUDED.due_at, overdue_at = EXCLUDED.overdue_at, detail = EXCLUDED.detail,
                assignee_id = EXCLUDED.assignee_id;
    END IF;
    IF p ? 'finished_work' THEN
        DELETE FROM leads_work_items
            WHERE item_id = ANY (ARRAY(SELECT jsonb_array_elements_text(p->'finished_work')));
    END IF;
END;
$$;
