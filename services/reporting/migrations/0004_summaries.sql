-- Reporting's read models, issue #12: summaries maintained by the projection (see domain/ledger.py and the
-- README). Disposable like the rest: the rebuild runs this file inside a fresh schema (keep names unqualified).
--
-- report_facts stays the raw record (audits, the equivalence test, and "what changed" for a group); every fact
-- now belongs to a *group* (a lead with its orders, quotes, care plans, or an unlinked order/quote/complaint):
-- the projection recomputes only the groups a batch touches and adds the differences to the summaries below.

ALTER TABLE report_facts ADD COLUMN entity text, ADD COLUMN group_id text, ADD COLUMN due_at timestamptz;
CREATE INDEX report_facts_group ON report_facts (group_id);
CREATE INDEX report_facts_entity ON report_facts (entity);
CREATE INDEX report_facts_consultant ON report_facts (consultant_id);
CREATE INDEX report_facts_time ON report_facts (occurred_at);
CREATE INDEX report_facts_due ON report_facts (due_at) WHERE due_at IS NOT NULL;

-- The link graph: entity (lead:…, order:…, quote:…, complaint:…) → the group it belongs to, and the links seen.
CREATE TABLE report_entities (
    entity   text PRIMARY KEY,
    group_id text NOT NULL
);
CREATE TABLE report_edges (
    a text NOT NULL,
    b text NOT NULL,
    PRIMARY KEY (a, b)
);

-- Consultants' team history (ConsultantRegistered / ConsultantMovedTeam), for owners whose events carry no team.
CREATE TABLE report_consultants (
    event_id      uuid PRIMARY KEY,
    consultant_id text        NOT NULL,
    at            timestamptz NOT NULL,
    team_id       text        NOT NULL
);

-- The per-lead current state.
CREATE TABLE report_lead_state (
    lead_id        text PRIMARY KEY,
    group_id       text        NOT NULL,
    channel        text        NOT NULL,
    product        text        NOT NULL,
    captured_at    timestamptz NOT NULL,
    owner_id       text,
    team_id        text,
    grade          text        NOT NULL,
    stage          text        NOT NULL,
    furthest_stage text        NOT NULL,
    status         text        NOT NULL,  -- open | won | lost | invalid
    due_at         timestamptz,           -- the pending follow-up's due time (none if logged after it)
    last_logged_at timestamptz
);
CREATE INDEX report_lead_state_due ON report_lead_state (due_at, owner_id) WHERE status = 'open' AND due_at IS NOT NULL;

-- Summaries. Every row is a sum of differences; known_day / known_month is when the difference happened (the
-- day of the change moment), which is what `as_of` sums up to. Dimension values are '' when unknown.

-- Activity counters: day × metric × consultant × team × channel × product (credited by the attribution rule).
CREATE TABLE report_activity_daily (
    day           date             NOT NULL,
    metric        text             NOT NULL,
    consultant_id text             NOT NULL,
    team_id       text             NOT NULL,
    channel       text             NOT NULL,
    product       text             NOT NULL,
    known_day     date             NOT NULL,
    amount        double precision NOT NULL,
    PRIMARY KEY (day, metric, consultant_id, team_id, channel, product, known_day)
);
CREATE TABLE report_activity_monthly (
    month         text             NOT NULL,
    metric        text             NOT NULL,
    consultant_id text             NOT NULL,
    team_id       text             NOT NULL,
    channel       text             NOT NULL,
    product       text             NOT NULL,
    known_month   text             NOT NULL,
    amount        double precision NOT NULL,
    PRIMARY KEY (month, metric, consultant_id, team_id, channel, product, known_month)
);

-- Funnel counts per cohort (capture month) × measure (total, entered:X, reached:X, current:X, stay:X:bucket,
-- won, lost, …) × owner/team as of now × channel × product.
CREATE TABLE report_funnel_now (
    cohort        text   NOT NULL,
    measure       text   NOT NULL,
    consultant_id text   NOT NULL,
    team_id       text   NOT NULL,
    channel       text   NOT NULL,
    product       text   NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (cohort, measure, consultant_id, team_id, channel, product)
);
-- The same per one dimension at a time (dim '' = everything): what most funnels ask, in few rows.
CREATE TABLE report_funnel_dims (
    cohort    text   NOT NULL,
    dim       text   NOT NULL,
    dim_value text   NOT NULL,
    measure   text   NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (cohort, dim, dim_value, measure)
);
-- And by the day / month the change happened: `as_of`.
CREATE TABLE report_funnel_daily (
    cohort    text   NOT NULL,
    dim       text   NOT NULL,
    dim_value text   NOT NULL,
    measure   text   NOT NULL,
    known_day date   NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (cohort, dim, dim_value, measure, known_day)
);
CREATE TABLE report_funnel_monthly (
    cohort      text   NOT NULL,
    dim         text   NOT NULL,
    dim_value   text   NOT NULL,
    measure     text   NOT NULL,
    known_month text   NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (cohort, dim, dim_value, measure, known_month)
);

-- Open leads per owner × measure (grade:G, open, logged, missed; overdue and due_today only by day/month).
CREATE TABLE report_stock_now (
    consultant_id text   NOT NULL,
    measure       text   NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (consultant_id, measure)
);
CREATE TABLE report_stock_daily (
    consultant_id text   NOT NULL,
    measure       text   NOT NULL,
    known_day     date   NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (known_day, consultant_id, measure)
);
CREATE TABLE report_stock_monthly (
    consultant_id text   NOT NULL,
    measure       text   NOT NULL,
    known_month   text   NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (known_month, consultant_id, measure)
);

-- The read-model watermark also counts batches: the query cache is keyed by it.
ALTER TABLE report_progress ADD COLUMN batches bigint NOT NULL DEFAULT 0;
