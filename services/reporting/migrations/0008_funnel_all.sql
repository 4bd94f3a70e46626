-- All-time funnel counts (issue #12): report_funnel_dims summed over the capture cohorts, per dimension (dim '' =
-- everything) × value × measure. The "now" funnels of all leads, ungrouped or by one dimension (GET /v1/funnel,
-- /v1/reports/funnel without a period, group_by=consultant …), read O(values × measures) rows here instead of summing
-- every cohort's rows (funnel by consultant at 100k leads: 60k funnel_dims rows per request). Maintained by the same
-- differences as the other summaries, in the same statement (summaries.py, _SUMMARY_TABLES). `as_of` does not read it.
CREATE TABLE report_funnel_all (
    dim       text   NOT NULL,
    dim_value text   NOT NULL,
    measure   text   NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (dim, dim_value, measure)
);
-- A read model filled before this migration: the same sums from the cohort rows, so it needs no rebuild.
INSERT INTO report_funnel_all (dim, dim_value, measure, n)
SELECT dim, dim_value, measure, sum(n) FROM report_funnel_dims GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
