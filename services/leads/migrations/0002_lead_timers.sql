-- Which durable timer (kernel table `timers`) currently stands for each lead's follow-up due date and pool
-- release. Written with the lead's events; a moved due date cancels the old timer and arms a new one with a
-- fresh id (a cancelled or fired timer id is never reused, since the kernel only reschedules pending ones).
CREATE TABLE leads_timers (
    lead_id  text        NOT NULL,
    kind     text        NOT NULL,
    timer_id text        NOT NULL,
    due_at   timestamptz NOT NULL,
    payload  jsonb       NOT NULL,
    PRIMARY KEY (lead_id, kind)
);
