-- The work queue (issue 17, item 5; domain/work_queue.py): every piece of due work on a lead is a row, so one
-- keyset-paged query lists a consultant's follow-ups, call-backs, appointments and return visits in due order.
-- A lead's own work (follow-up / call-back, open appointments) is rewritten with the lead in the same transaction
-- as its events (leads_record_work, rules/work_queue.sql); return visits come from after-sales' care plans through
-- the idempotent consumer. assignee_id NULL means "the lead's owner", read from leads_view at query time, so a
-- reassignment moves the work with it.
CREATE TABLE leads_work_items (
    item_id     text PRIMARY KEY,
    kind        text        NOT NULL,
    lead_id     text        NOT NULL,
    due_at      timestamptz NOT NULL,
    overdue_at  timestamptz NOT NULL,
    detail      text,
    assignee_id text
);
CREATE INDEX leads_work_items_lead ON leads_work_items (lead_id);
CREATE INDEX leads_work_items_due ON leads_work_items (due_at, item_id);

-- The approved loss's reason, for lists of lost customers (filter lost_reason). Leads lost before this migration
-- have none until a read-model rebuild (their LossApproved events carry it).
ALTER TABLE leads_view ADD COLUMN lost_reason text;
CREATE INDEX leads_view_team ON leads_view (team_id, captured_at, lead_id);

-- Existing leads' follow-ups (open appointments are rewritten with the lead's next event).
INSERT INTO leads_work_items (item_id, kind, lead_id, due_at, overdue_at)
    SELECT 'follow-up:' || lead_id, 'follow_up', lead_id, follow_up_due_at, follow_up_due_at FROM leads_view
    WHERE is_open AND NOT pooled AND owner_id IS NOT NULL AND follow_up_due_at IS NOT NULL
      AND stage NOT IN ('contract_signed', 'delivered');
