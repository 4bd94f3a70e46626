-- What each group (see 0004_summaries.sql) contributes to the summaries, issue #12: its contributions keyed like
-- the fold's (kind, *key, known_day) → value, as JSON [[key, …], [value, …]] (bytea: stored and read whole, never
-- queried inside, so PostgreSQL need not parse it). Most are over the ~2 kB TOAST threshold (~2.3 kB at the scale
-- bench's 10k leads, ~1 kB compressed): lz4 rather than the default pglz, as every live batch writes and reads them. The live projection takes a group's
-- "before" from here instead of folding its history again, so a batch folds each touched group once (for the days
-- from its earliest change on). Written by build_summaries for every group and by every live batch for the groups
-- it changed; disposable like the rest (the rebuild runs this file inside a fresh schema: names unqualified).
-- Numbered 0010: 0008 and 0009 are taken by the all-time funnel and hour-keyed rows in flight on other branches.
CREATE TABLE report_group_contributions (
    group_id      text  PRIMARY KEY,
    contributions bytea COMPRESSION lz4 NOT NULL
);
