-- sf_feed_horizon: the relay's read limit — the oldest transaction of THIS database still running, as of the
-- calling statement's snapshot (or the snapshot's xmax when none is). The current definition, re-applied whenever
-- this file changes (shared/migrations.py, "rules"). Callers: FEED_QUERY (shared/eventstore/store.py) and the
-- relay's read (shared/messaging/relay.py), as an uncorrelated sub-select so it is computed once per statement.
--
-- Why not pg_snapshot_xmin(pg_current_snapshot()): xmin is the cluster's. A transaction in another database (another
-- service, a test, a long report elsewhere) can never write this database's events, yet it held every event
-- committed here after it started back from the relay for its whole duration, and made the relay look again every
-- few milliseconds meanwhile.
--
-- Why it is still safe (the argument of shared/messaging/relay.py, with a smaller set of "running"):
--   * STABLE, so it runs on the calling statement's snapshot: pg_current_snapshot() is the very snapshot the feed
--     reads rows with. Every xid below its xmax that is not in its running list (xip) had finished when the
--     snapshot was taken: its rows are visible now or never will be. Transactions that start later get xids at or
--     above xmax.
--   * A running xid is skipped only if pg_stat_get_activity shows it as the transaction of a backend connected to
--     another database. A backend never changes database and an xid is never reused, so that is a fact, however
--     late the activity is read. Every other running xid is kept: ours, and those we cannot place — finished
--     meanwhile (already gone from the activity list), prepared transactions (not listed there), backends without a
--     database. Keeping too many only holds events back a little longer; the horizon is never above a transaction
--     of this database that was running at the snapshot.
--   * backend_xid is a 32-bit xid; the xip entries are 64-bit (epoch + xid). Running xids lie within 2^31 of each
--     other, so comparing the low 32 bits identifies them.
--   * pg_stat_get_activity's datid and backend_xid are shown to every role (no pg_read_all_stats needed).
--   * PL/pgSQL rather than SQL: an SQL function with an aggregate is not inlined and is planned on every call
--     (~0.3 ms); PL/pgSQL keeps the plan for the session. STABLE either way, so no snapshot of its own.
CREATE OR REPLACE FUNCTION sf_feed_horizon() RETURNS xid8
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$
BEGIN
    RETURN (
        SELECT COALESCE(min(running.xid), pg_snapshot_xmax(pg_current_snapshot()))
        FROM pg_snapshot_xip(pg_current_snapshot()) AS running(xid)
        WHERE NOT EXISTS (
            SELECT FROM pg_stat_get_activity(NULL) AS other
            WHERE other.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())
              AND other.backend_xid::text::bigint = (running.xid::text::bigint % 4294967296)
        )
    );
END;
$$;
