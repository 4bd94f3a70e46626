-- Campaigns and their spend entries, derived from the campaign-<id> streams in the same transaction as their events
-- (adapters/unit_of_work.py). The capture reads them to check a lead's campaign_id and to link a utm_campaign to
-- the campaign with that code; the unique code keeps two campaigns from sharing one.
CREATE TABLE leads_campaigns (
    campaign_id   text PRIMARY KEY,
    code          text        NOT NULL UNIQUE,
    name          text        NOT NULL,
    kind          text        NOT NULL,
    channel       text        NOT NULL,
    starts_on     date        NOT NULL,
    ends_on       date        NOT NULL,
    budget_minor  bigint      NOT NULL,
    currency      text        NOT NULL,
    spent_minor   bigint      NOT NULL,
    created_at    timestamptz NOT NULL,
    version       integer     NOT NULL
);

CREATE TABLE leads_campaign_spend (
    entry_id           text PRIMARY KEY,
    campaign_id        text        NOT NULL,
    amount_minor       bigint      NOT NULL,
    currency           text        NOT NULL,
    spent_at           timestamptz NOT NULL,
    note               text,
    recorded_by        text,
    recorded_at        timestamptz NOT NULL
);
CREATE INDEX leads_campaign_spend_campaign ON leads_campaign_spend (campaign_id, spent_at);
