-- Lookup and read tables of the orders service. Both are written in the same transaction as the events they
-- derive from (see adapters/repository.py), so they are never ahead of or behind the event store.

-- The online shop's order id → our order id: the checkout's idempotency key. The primary key is what makes two
-- concurrent checkouts of the same shop order produce one order (the second waits, then finds the row).
CREATE TABLE shop_checkouts (
    shop_order_id text PRIMARY KEY,
    order_id      text        NOT NULL UNIQUE,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per order for the list queries (a consultant's open orders, awaiting delivery, receivables).
-- Derived state only: it can be rebuilt by replaying the order streams.
CREATE TABLE order_summaries (
    order_id                text PRIMARY KEY,
    version                 integer     NOT NULL,
    status                  text        NOT NULL,
    lead_id                 text,
    consultant_id           text,
    customer_name           text,
    channel                 text,
    payment_plan            text        NOT NULL,
    currency                text        NOT NULL,
    total_minor             bigint      NOT NULL,
    paid_minor              bigint      NOT NULL,
    financed_minor          bigint      NOT NULL,
    outstanding_minor       bigint      NOT NULL,
    refund_due_minor        bigint      NOT NULL,
    financing               text        NOT NULL,
    delivery_scheduled_for  timestamptz,
    signed_at               timestamptz NOT NULL,
    delivered_at            timestamptz,
    updated_at              timestamptz NOT NULL
);

CREATE INDEX order_summaries_consultant_open ON order_summaries (consultant_id) WHERE status = 'signed';
CREATE INDEX order_summaries_open ON order_summaries (delivery_scheduled_for) WHERE status = 'signed';
