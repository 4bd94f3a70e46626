-- Channel and campaign cost (domain/ledger.py, _campaign_measures): activity day × metric (leads, invalid_leads,
-- visits, test_drives, contracts, revenue, spend) × the lead's / the spend's channel × campaign ('' for none), per
-- day the difference became known (known_day / known_month: what `as_of` sums up to), like report_activity_*.
CREATE TABLE report_campaign_daily (
    day           date             NOT NULL,
    metric        text             NOT NULL,
    channel       text             NOT NULL,
    campaign_id   text             NOT NULL,
    known_day     date             NOT NULL,
    amount        double precision NOT NULL,
    PRIMARY KEY (day, metric, channel, campaign_id, known_day)
);
CREATE TABLE report_campaign_monthly (
    month         text             NOT NULL,
    metric        text             NOT NULL,
    channel       text             NOT NULL,
    campaign_id   text             NOT NULL,
    known_month   text             NOT NULL,
    amount        double precision NOT NULL,
    PRIMARY KEY (month, metric, channel, campaign_id, known_month)
);
