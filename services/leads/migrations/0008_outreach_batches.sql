-- Outreach batches (issue 17, item 5; app/outreach.py): the batch and its tasks as OutreachBatchCreated recorded them,
-- written in the same transaction as the batch's events (adapters/unit_of_work.py). A task's progress is read from
-- its lead (leads_view) when the batch is shown, so it needs no updates here.
CREATE TABLE leads_outreach_batches (
    batch_id       text PRIMARY KEY,
    team_id        text        NOT NULL,
    audience       text        NOT NULL,
    filters        jsonb       NOT NULL,
    consultant_ids text[]      NOT NULL,
    due_at         timestamptz NOT NULL,
    note           text,
    created_by     text,
    created_at     timestamptz NOT NULL,
    selected       integer     NOT NULL,
    reactivated    integer     NOT NULL,
    scheduled      integer     NOT NULL
);

CREATE TABLE leads_outreach_tasks (
    batch_id       text    NOT NULL REFERENCES leads_outreach_batches (batch_id),
    position       integer NOT NULL,  -- the round-robin order (0-based)
    customer_id    text    NOT NULL,
    source_lead_id text    NOT NULL,
    lead_id        text    NOT NULL,
    consultant_id  text    NOT NULL,
    action         text    NOT NULL,
    PRIMARY KEY (batch_id, position)
);
