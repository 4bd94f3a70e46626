-- Reporting's read model, issue #6. Disposable (rebuilt from the topics) except the targets tables, which are
-- projections of reporting's own event store and live in public only.
--
-- Every fact is stored as it happened, keyed by its event id, with the time it took effect: reports are folds over
-- these facts at query time, so (a) a redelivered or replayed event is a no-op (ON CONFLICT DO NOTHING), (b) the
-- arrival order across topics (and even within a key) does not matter, and (c) any report can be asked "as of" a
-- past moment by filtering on occurred_at. The same file is run inside a fresh schema by the rebuild command, so
-- keep every name here unqualified (except the public pointer table below).

ALTER TABLE report_leads ADD COLUMN IF NOT EXISTS interest text;

CREATE TABLE report_facts (
    event_id           uuid PRIMARY KEY,
    event_type         text        NOT NULL,
    lead_id            text,
    order_id           text,
    consultant_id      text,
    occurred_at        timestamptz NOT NULL,
    data               jsonb       NOT NULL,
    source_recorded_at timestamptz,
    projected_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX report_facts_type_time ON report_facts (event_type, occurred_at);
CREATE INDEX report_facts_lead ON report_facts (lead_id);
CREATE INDEX report_facts_order ON report_facts (order_id);

-- "data as of": the newest source event time and the latest projection time, kept per batch.
CREATE TABLE report_progress (
    id                 int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_event_at      timestamptz,
    last_projected_at  timestamptz,
    events             bigint NOT NULL DEFAULT 0
);
INSERT INTO report_progress (id) VALUES (1);

-- Which schema holds the read model queries and the live consumer use. The rebuild command builds a new schema
-- and flips this row in one statement (atomic switch).
CREATE TABLE IF NOT EXISTS public.reporting_active_schema (
    id          int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    schema_name text        NOT NULL,
    switched_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.reporting_active_schema (id, schema_name) VALUES (1, 'public') ON CONFLICT DO NOTHING;

-- Shop checkouts create their lead from the order: the order id links orders' events to the lead.
ALTER TABLE report_leads ADD COLUMN IF NOT EXISTS order_id text;
CREATE INDEX IF NOT EXISTS report_leads_order ON report_leads (order_id);
