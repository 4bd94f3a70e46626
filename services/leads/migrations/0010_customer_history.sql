-- The customer page's read model of the other services (app/customer_history.py): what orders and aftersales
-- published about a customer's leads, orders and after-sales care. Written by the leads consumer in the same
-- transaction as the processed-event record, so each public event lands once; rows name the lead, order and
-- customer id *as the publisher named them*, and the page finds them through the customer's leads at read time —
-- which is why a merge needs no rewrite here: the duplicate's leads (leads_view) and customer id
-- (leads_customer_merges) lead to the same rows from the survivor.
CREATE TABLE leads_customer_events (
    event_id     uuid PRIMARY KEY,
    source       text        NOT NULL,  -- the publishing service: orders | aftersales
    event_type   text        NOT NULL,  -- the contract's short name, e.g. PaymentReceived
    occurred_at  timestamptz NOT NULL,
    lead_id      text,
    order_id     text,
    customer_ref text,                  -- the customer id in the publisher's words (may be another system's)
    subject      text,                  -- the quote, complaint or referral the event is about
    summary      jsonb       NOT NULL
);
CREATE INDEX leads_customer_events_lead ON leads_customer_events (lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX leads_customer_events_order ON leads_customer_events (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX leads_customer_events_customer ON leads_customer_events (customer_ref) WHERE customer_ref IS NOT NULL;
CREATE INDEX leads_customer_events_subject ON leads_customer_events (subject, occurred_at) WHERE subject IS NOT NULL;

-- Each order's current state as orders published it: status, total and what has been paid (the balance).
CREATE TABLE leads_customer_orders (
    order_id     text PRIMARY KEY,
    lead_id      text,
    customer_ref text,
    status       text,
    total_minor  bigint,
    paid_minor   bigint      NOT NULL DEFAULT 0,
    currency     text,
    signed_at    timestamptz,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX leads_customer_orders_lead ON leads_customer_orders (lead_id);
CREATE INDEX leads_customer_orders_customer ON leads_customer_orders (customer_ref);

-- Loyalty points per customer id as aftersales keeps them (the latest balance it published).
CREATE TABLE leads_customer_points (
    customer_ref text PRIMARY KEY,
    balance      integer     NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- Which customer each merged duplicate went into (CustomerMerged, written with it by the unit of work): the
-- survivor's page also shows what other services published under the duplicate's id. Chains (A into B, B into C)
-- are followed at read time.
CREATE TABLE leads_customer_merges (
    merged_customer_id text PRIMARY KEY,
    survivor_id        text NOT NULL
);
CREATE INDEX leads_customer_merges_survivor ON leads_customer_merges (survivor_id);
INSERT INTO leads_customer_merges (merged_customer_id, survivor_id)
SELECT data->>'merged_customer_id', data->>'customer_id' FROM events WHERE event_type = 'CustomerMerged'
ON CONFLICT DO NOTHING;
