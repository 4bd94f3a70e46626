-- The reception register (到店登记), derived from the visit-<id> streams and written in the same transaction as
-- their events (adapters/unit_of_work.py). It answers the register's queries and counts a customer's earlier
-- visits (first or repeat); the unique (customer_id, visit_number) backs up the customer's advisory lock, so two
-- registrations racing past it cannot both become visit number n.
CREATE TABLE leads_visits (
    visit_id         text PRIMARY KEY,
    lead_id          text        NOT NULL,
    customer_id      text        NOT NULL,
    visit_number     integer     NOT NULL,
    first_visit      boolean     NOT NULL,
    party_size       integer     NOT NULL,
    purpose          text        NOT NULL,
    receptionist_id  text,
    consultant_id    text,
    team_id          text,
    walk_in_lead     boolean     NOT NULL,
    arrived_at       timestamptz NOT NULL,
    departed_at      timestamptz,
    duration_minutes integer,
    version          integer     NOT NULL,
    UNIQUE (customer_id, visit_number)
);
CREATE INDEX leads_visits_arrived ON leads_visits (arrived_at);
CREATE INDEX leads_visits_lead ON leads_visits (lead_id);
