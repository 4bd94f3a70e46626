-- The activity counters' reads (daily, attainment, commission, monthly; now and `as_of`) select a range of days
-- and of known days and sum `amount`; the key has every column but `amount`, so each row cost a heap visit (as_of
-- monthly at 100k leads: 6,543 buffers, 27k rows from 6k heap pages). Covering: an index-only scan, 592 buffers.
-- Like every index of the summary tables it survives a rebuild (see 0006_read_indexes.sql).
CREATE INDEX report_activity_daily_known ON report_activity_daily (day, known_day)
    INCLUDE (metric, consultant_id, team_id, channel, product, amount);
