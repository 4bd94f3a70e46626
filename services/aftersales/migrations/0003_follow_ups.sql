-- The manager's follow-up tasks opened by low satisfaction scores.
CREATE TABLE follow_ups (
    task_id     text PRIMARY KEY,
    plan_id     text        NOT NULL,
    visit_no    integer     NOT NULL,
    customer_id text        NOT NULL,
    score       integer     NOT NULL,
    status      text        NOT NULL DEFAULT 'open',  -- open | closed
    outcome     text,
    opened_at   timestamptz NOT NULL,
    closed_at   timestamptz
);
CREATE INDEX follow_ups_open ON follow_ups (opened_at) WHERE status = 'open';
