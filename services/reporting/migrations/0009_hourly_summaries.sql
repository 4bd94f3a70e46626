-- `as_of` inside a day (issue #12: p99 ≤ 250 ms at 1M leads). The daily / monthly summaries answer `as_of` T up
-- to T's midnight; the rest of T's day was folded on request from every group with a change that day, which grows
-- with leads per day (100k leads: ~180 ms CPU per request, bench/results/reporting-scale.md). The same
-- differences by the UTC hour they happened (known_day, known_hour 0–23) leave only T's own hour to fold.
-- Keyed by the known hour first: a read takes the rows of one day. Filled by the projection and build_summaries
-- like the daily tables; a database migrated without a rebuild has them empty for what was projected before, so
-- run `salesflow rebuild` after this migration (as_of inside a past day would miss its earlier hours).

CREATE TABLE report_activity_hourly (
    known_day     date             NOT NULL,
    known_hour    smallint         NOT NULL,
    day           date             NOT NULL,
    metric        text             NOT NULL,
    consultant_id text             NOT NULL,
    team_id       text             NOT NULL,
    channel       text             NOT NULL,
    product       text             NOT NULL,
    amount        double precision NOT NULL,
    PRIMARY KEY (known_day, known_hour, day, metric, consultant_id, team_id, channel, product)
);
-- The funnel with its four dimensions in one row (report_funnel_now's key), not one row per dimension like
-- report_funnel_daily: inside one hour few leads share a key, so that spread made ~5 rows of every difference.
CREATE TABLE report_funnel_hourly (
    known_day     date     NOT NULL,
    known_hour    smallint NOT NULL,
    cohort        text     NOT NULL,
    measure       text     NOT NULL,
    consultant_id text     NOT NULL,
    team_id       text     NOT NULL,
    channel       text     NOT NULL,
    product       text     NOT NULL,
    n             bigint   NOT NULL,
    PRIMARY KEY (known_day, known_hour, cohort, measure, consultant_id, team_id, channel, product)
);
CREATE TABLE report_stock_hourly (
    known_day     date     NOT NULL,
    known_hour    smallint NOT NULL,
    consultant_id text     NOT NULL,
    measure       text     NOT NULL,
    n             bigint   NOT NULL,
    PRIMARY KEY (known_day, known_hour, consultant_id, measure)
);
CREATE TABLE report_campaign_hourly (
    known_day   date             NOT NULL,
    known_hour  smallint         NOT NULL,
    day         date             NOT NULL,
    metric      text             NOT NULL,
    channel     text             NOT NULL,
    campaign_id text             NOT NULL,
    amount      double precision NOT NULL,
    PRIMARY KEY (known_day, known_hour, day, metric, channel, campaign_id)
);
