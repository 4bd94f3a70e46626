-- Sales targets: the projection of reporting's own event store (stream type "target"), written in the same
-- transaction as the events. Not disposable and never rebuilt from Kafka; lives in public only.
CREATE TABLE IF NOT EXISTS public.report_targets (
    scope        text    NOT NULL,  -- org | team | consultant
    scope_id     text    NOT NULL,  -- '' for the organisation
    month        text    NOT NULL,  -- YYYY-MM
    metric       text    NOT NULL,  -- new_leads | visits | test_drives | contracts | deliveries | revenue
    base         numeric NOT NULL,
    stretch      numeric,
    parent_team  text,              -- for consultant targets that are a split of a team target
    version      int     NOT NULL,
    set_at       timestamptz NOT NULL,
    PRIMARY KEY (scope, scope_id, month, metric)
);
