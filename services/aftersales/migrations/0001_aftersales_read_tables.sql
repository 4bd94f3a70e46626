-- After-sales read and lookup tables. Written by the event-store adapter in the same transaction as the events
-- they describe (so they are never ahead of or behind the store), and rebuildable from the events.

-- One row per care plan (= delivered order); lead_id answers "was this lead's order delivered already?".
CREATE TABLE care_plans (
    plan_id      text PRIMARY KEY,
    order_id     text        NOT NULL,
    customer_id  text        NOT NULL,
    lead_id      text,
    delivered_at timestamptz NOT NULL
);
CREATE INDEX care_plans_lead ON care_plans (lead_id) WHERE lead_id IS NOT NULL;

CREATE TABLE care_visits (
    plan_id       text        NOT NULL,
    visit_no      integer     NOT NULL,
    customer_id   text        NOT NULL,
    label         text        NOT NULL,
    assignee_role text        NOT NULL,
    due_at        timestamptz NOT NULL,
    overdue_at    timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'pending',  -- pending | overdue | completed
    score         integer,
    score_pct     numeric,  -- the score on 0..100, comparable across scale changes
    low_score     boolean,
    late          boolean,
    completed_at  timestamptz,
    PRIMARY KEY (plan_id, visit_no)
);
CREATE INDEX care_visits_open_due ON care_visits (due_at) WHERE status <> 'completed';
CREATE INDEX care_visits_completed ON care_visits (completed_at) WHERE status = 'completed';

CREATE TABLE complaints (
    complaint_id       text PRIMARY KEY,
    customer_id        text        NOT NULL,
    order_id           text,
    category           text        NOT NULL,
    severity           text        NOT NULL,
    status             text        NOT NULL,  -- open | resolved
    acknowledged       boolean     NOT NULL DEFAULT false,
    sla_state          text        NOT NULL,  -- on_track | acknowledge_breached | resolve_breached | resolved
    escalation_level   integer     NOT NULL DEFAULT 0,
    acknowledge_due_at timestamptz NOT NULL,
    resolve_due_at     timestamptz NOT NULL,
    opened_at          timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX complaints_open ON complaints (sla_state, opened_at) WHERE status = 'open';

-- lead_id → referral: the lookup the Delivered reaction uses to reward the referrer.
CREATE TABLE referrals (
    referral_id          text PRIMARY KEY,
    referrer_customer_id text        NOT NULL,
    lead_id              text UNIQUE,
    rewarded_order_id    text,
    registered_at        timestamptz NOT NULL
);

CREATE TABLE loyalty_balances (
    customer_id text PRIMARY KEY,
    balance     integer NOT NULL CHECK (balance >= 0)  -- the domain refuses overdrafts; this is the backstop
);

-- Everything that happened to a customer in after-sales, newest last.
CREATE TABLE customer_timeline (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_type  text        NOT NULL,
    stream_id   text        NOT NULL,
    summary     jsonb       NOT NULL
);
CREATE INDEX customer_timeline_customer ON customer_timeline (customer_id, occurred_at, id);
