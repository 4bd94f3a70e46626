-- Whether this read model needs `salesflow rebuild` before it can be trusted (issue #12; see
-- adapters/upgrade.py). Migrations 0004/0005 (the summaries), 0009 (hour-keyed rows) and 0010 (stored group
-- contributions) create tables the projection fills from then on: applied to a read model that already held
-- facts, they left those tables without what was projected before (as_of inside a past day sums empty hourly
-- rows; a live batch folds a touched group against no stored contributions), and nothing said so. Worked out here
-- once, from when those migrations were applied (public.schema_migrations) and when each fact was projected: a
-- fact projected before one of them means that migration found a populated read model. A rebuild runs this file
-- in a fresh, empty generation (NULL: nothing needed). A migration that adds such a table from now on sets the
-- reason itself, in the same way (UPDATE … WHERE EXISTS a fact).
CREATE TABLE report_read_model (
    id             int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    rebuild_needed text
);
-- One pass over the facts (their earliest projection time), not one per migration.
WITH first_fact AS (SELECT min(projected_at) AS at FROM report_facts)
INSERT INTO report_read_model (id, rebuild_needed)
SELECT 1, (SELECT 'migration ' || string_agg(m.name, ', ' ORDER BY m.version) || ' found facts projected before '
                  || 'it and left its tables without them (as_of and the live fold would be wrong)'
           FROM public.schema_migrations m, first_fact f
           WHERE m.namespace = 'reporting' AND m.version IN (4, 5, 9, 10) AND f.at < m.applied_at);
