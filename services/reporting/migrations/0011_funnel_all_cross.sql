-- All-time funnel counts in all four dimensions at once (issue #12): report_funnel_now summed over the capture
-- cohorts, measure × owner × team × channel × product. An all-time funnel over two dimensions or more (a channel
-- filter grouped by team, a manager's team grouped by consultant) sums these rows instead of report_funnel_now's,
-- which are as many again per cohort month: at 100k leads (11 months) 106k rows against 411k, a channel's 22k
-- against 83k, and the count is bounded by the dimensions' values, not by leads or months. One-dimension funnels
-- read report_funnel_all (0008). Maintained by the same differences in the same statement (summaries.py,
-- _SUMMARY_TABLES); `as_of` does not read it. Numbered after 0009 / 0010, which other branches hold.
CREATE TABLE report_funnel_all_cross (
    team_id       text   NOT NULL,
    consultant_id text   NOT NULL,
    channel       text   NOT NULL,
    product       text   NOT NULL,
    measure       text   NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (team_id, consultant_id, channel, product, measure)
);
-- The key serves a team filter (a manager's scope); a channel filter reads this, index-only.
CREATE INDEX report_funnel_all_cross_channel ON report_funnel_all_cross (channel)
    INCLUDE (team_id, consultant_id, product, measure, n);
-- A read model filled before this migration: the same sums from the cohort rows, so it needs no rebuild.
INSERT INTO report_funnel_all_cross (team_id, consultant_id, channel, product, measure, n)
SELECT team_id, consultant_id, channel, product, measure, sum(n) FROM report_funnel_now
GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0;
