-- Durable timers: "at time T, do X" that survive restarts and fire once (follow-up overdue, quote expiry,
-- return visits due, complaint SLA). Scheduled in the same transaction as the command that needs them.
CREATE TABLE timers (
    -- Chosen by the scheduler and deterministic (e.g. 'followup-due:<lead>:<n>'), so scheduling is idempotent.
    timer_id    text PRIMARY KEY,
    kind        text        NOT NULL,
    due_at      timestamptz NOT NULL,
    payload     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fired', 'cancelled')),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    fired_at    timestamptz
);

CREATE INDEX timers_pending_due ON timers (due_at) WHERE status = 'pending';
