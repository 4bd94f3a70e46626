-- A timeline row is one event of one stream: keyed by (stream_id, stream_version) instead of a generated id, so a
-- rebuild from the event store (adapters/rebuild.py) writes the same rows the live projection wrote. The identity
-- column made every rebuilt row differ (a TRUNCATE does not restart it, and the rebuild replays stream by stream,
-- not in commit order). Existing rows were inserted in stream order, so their order by id within a stream is their
-- version.
ALTER TABLE customer_timeline ADD COLUMN stream_version integer;
UPDATE customer_timeline t SET stream_version = n.version
FROM (SELECT id, row_number() OVER (PARTITION BY stream_id ORDER BY id) AS version FROM customer_timeline) n
WHERE t.id = n.id;
ALTER TABLE customer_timeline ALTER COLUMN stream_version SET NOT NULL;
DROP INDEX customer_timeline_customer;
ALTER TABLE customer_timeline DROP COLUMN id;
ALTER TABLE customer_timeline ADD PRIMARY KEY (stream_id, stream_version);
CREATE INDEX customer_timeline_customer ON customer_timeline (customer_id, occurred_at, stream_id, stream_version);
