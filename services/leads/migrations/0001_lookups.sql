-- Lookup and query tables of the leads service. Every row here is written in the same transaction as the events
-- it derives from (see adapters/unit_of_work.py), so it is never ahead of or behind the event store.

-- Customer identity for dedupe: one customer per normalised phone (E.164) in the selling organisation.
CREATE TABLE leads_customers (
    phone        text PRIMARY KEY,
    customer_id  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Idempotency keys: the same inquiry (source system, external id) is one lead; a resend answers with it.
CREATE TABLE leads_external_ids (
    source_system text NOT NULL,
    external_id   text NOT NULL,
    lead_id       text NOT NULL,
    PRIMARY KEY (source_system, external_id)
);

-- One lead per after-sales referral; the order → lead link for orders' events that carry no lead id.
CREATE TABLE leads_referrals (
    referral_id text PRIMARY KEY,
    lead_id     text NOT NULL
);

CREATE TABLE leads_orders (
    order_id text PRIMARY KEY,
    lead_id  text NOT NULL
);

-- The sales organisation as the assignment needs it (derived from team-/consultant- streams).
CREATE TABLE leads_teams (
    team_id text PRIMARY KEY,
    name    text NOT NULL
);

CREATE TABLE leads_consultants (
    consultant_id text PRIMARY KEY,
    -- Round-robin order: registration order, stable across deactivations.
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    team_id       text    NOT NULL,
    name          text    NOT NULL,
    role          text    NOT NULL,
    active        boolean NOT NULL DEFAULT true
);

CREATE INDEX leads_consultants_team ON leads_consultants (team_id, seq) WHERE active;

-- Round-robin cursor per team: the seq of the consultant who got the last lead. Read and written under a
-- per-team advisory lock held by the capturing transaction, so concurrent captures take turns.
CREATE TABLE leads_assignment_cursors (
    team_id  text PRIMARY KEY,
    last_seq bigint NOT NULL
);

-- Current state of every lead, for dedupe lookups and the consultants' queries.
CREATE TABLE leads_view (
    lead_id          text PRIMARY KEY,
    customer_id      text        NOT NULL,
    phone            text        NOT NULL,
    name             text        NOT NULL,
    channel          text        NOT NULL,
    interest         text,
    status           text        NOT NULL,
    stage            text        NOT NULL,
    grade            text        NOT NULL,
    is_open          boolean     NOT NULL,
    owner_id         text,
    team_id          text,
    pooled           boolean     NOT NULL DEFAULT false,
    released_by      text,
    released_at      timestamptz,
    follow_up_due_at timestamptz,
    overdue          boolean     NOT NULL DEFAULT false,
    loss_pending     boolean     NOT NULL DEFAULT false,
    order_id         text,
    captured_at      timestamptz NOT NULL,
    last_activity_at timestamptz,
    version          integer     NOT NULL
);

CREATE INDEX leads_view_open_phone ON leads_view (phone) WHERE is_open;
CREATE INDEX leads_view_owner ON leads_view (owner_id, grade) WHERE is_open;
CREATE INDEX leads_view_pool ON leads_view (team_id) WHERE pooled AND is_open;
