-- Indexes for the read path (issue #12), chosen by EXPLAIN (ANALYZE, BUFFERS) on 100k leads (812k events, see
-- /work/notes/reporting-reads.md and bench/results/reporting-scale.md). Covering, so the reads are index-only
-- scans. A rebuild keeps them: build_summaries and the fresh generation's bulk load put back every index the
-- tables had (tests/integration/reporting/test_reporting_summaries_equivalence.py checks it).

-- `as_of`: funnel rows of one dimension known before a month / in a range of days. The keys lead with the
-- cohort, so without these both tables were scanned whole (report_funnel_daily is the largest summary).
CREATE INDEX report_funnel_daily_known ON report_funnel_daily (dim, known_day)
    INCLUDE (dim_value, cohort, measure, n);
CREATE INDEX report_funnel_monthly_known ON report_funnel_monthly (dim, known_month)
    INCLUDE (dim_value, cohort, measure, n);

-- A funnel filtered by channel and grouped by another dimension (two dimensions: report_funnel_now, not _dims):
-- a fifth of the rows instead of all of them.
CREATE INDEX report_funnel_now_channel ON report_funnel_now (channel, team_id, measure)
    INCLUDE (consultant_id, product, cohort, n);
