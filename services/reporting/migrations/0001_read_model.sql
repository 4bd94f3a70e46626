-- Reporting's read model: one row per lead, as the events describe it. Disposable: rebuilt from the topics.
CREATE TABLE report_leads (
    lead_id         text PRIMARY KEY,
    customer_id     text        NOT NULL,
    channel         text        NOT NULL,
    stage           text        NOT NULL,
    grade           text        NOT NULL,
    owner_id        text,
    captured_at     timestamptz NOT NULL,
    -- When the source event was recorded by the leads service, and when we projected it: the difference is the
    -- event-to-read-model latency the benchmarks report.
    source_recorded_at timestamptz,
    projected_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX report_leads_stage ON report_leads (stage);
CREATE INDEX report_leads_channel ON report_leads (channel);
