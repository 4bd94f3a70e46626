-- Roles and databases of salesflow. Idempotent: safe to run on every `stack.sh up`. Runs as a superuser:
--   * native: deploy/native/postgres.sh runs it as the `postgres` OS user (psql over the Unix socket);
--   * docker: mounted into /docker-entrypoint-initdb.d/ of the postgres:15 container (runs once, on an empty
--     data directory, as POSTGRES_USER=postgres).
-- Needs psql (\gexec, \connect). Runs with ON_ERROR_STOP. Dev/test credentials (loopback only): each password is
-- the role's name.
--
-- Least privilege (DESIGN §8), see deploy/README.md "PostgreSQL roles":
--   * salesflow_<service>: the service's runtime role. LOGIN only (no SUPERUSER, CREATEDB, CREATEROLE,
--     REPLICATION, BYPASSRLS). It owns database salesflow_<service> and what is in it, because the service runs
--     its own migrations at start-up (shared/migrations.py); it cannot connect to any other service's database
--     (CONNECT is revoked from PUBLIC there). pg_current_snapshot(), advisory locks, LISTEN/NOTIFY need nothing more.
--   * salesflow: the admin role for tests and ops: LOGIN CREATEDB (tests create throw-away databases) and
--     pg_monitor (the bench reads pg_stat_activity) and pg_signal_backend (a test's `DROP DATABASE ... WITH (FORCE)`
--     must end every session in it, including an autovacuum worker's, which has no role of its own), not a
--     superuser, no access to the services' databases.
-- Databases created before this split (owned by salesflow, a superuser then) are migrated in place: the database
-- and every object in it owned by salesflow are given to the service's role.

SET client_min_messages = warning;  -- not "role is already a member" on every run

SELECT format('CREATE ROLE %I LOGIN', role)
FROM unnest(ARRAY['salesflow', 'salesflow_leads', 'salesflow_orders', 'salesflow_aftersales',
                  'salesflow_reporting', 'salesflow_webhooks']) AS role
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role)
\gexec

ALTER ROLE salesflow WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD 'salesflow';
GRANT pg_monitor, pg_signal_backend TO salesflow;

SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              role, role)
FROM unnest(ARRAY['salesflow_leads', 'salesflow_orders', 'salesflow_aftersales', 'salesflow_reporting', 'salesflow_webhooks']) AS role
\gexec

-- Each database is named like its owner role.
SELECT format('CREATE DATABASE %I OWNER %I', db, db)
FROM unnest(ARRAY['salesflow_leads', 'salesflow_orders', 'salesflow_aftersales', 'salesflow_reporting', 'salesflow_webhooks']) AS db
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = db)
\gexec

SELECT format('ALTER DATABASE %I OWNER TO %I', db, db), format('REVOKE ALL ON DATABASE %I FROM PUBLIC', db)
FROM unnest(ARRAY['salesflow_leads', 'salesflow_orders', 'salesflow_aftersales', 'salesflow_reporting', 'salesflow_webhooks']) AS db
\gexec

-- In each service database: give what the old superuser `salesflow` created (tables with their indexes and
-- identity sequences, other sequences, views, routines, types, schemas) to the database's owner role. A no-op
-- on a fresh database. No string literals inside, so psql can keep it in a variable.
\set reown 'DO $do$ DECLARE r record; owner text := current_database(); old oid := (SELECT oid FROM pg_roles WHERE rolname = $n$salesflow$n$); BEGIN SET LOCAL lock_timeout = $t$60s$t$; FOR r IN SELECT format($f$ALTER %s %s OWNER TO %I$f$, CASE c.relkind WHEN $k$v$k$ THEN $k$VIEW$k$ WHEN $k$m$k$ THEN $k$MATERIALIZED VIEW$k$ WHEN $k$S$k$ THEN $k$SEQUENCE$k$ ELSE $k$TABLE$k$ END, c.oid::regclass, owner) AS stmt FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relowner = old AND c.relkind IN ($k$r$k$, $k$p$k$, $k$v$k$, $k$m$k$, $k$S$k$) AND n.nspname NOT IN ($k$pg_catalog$k$, $k$information_schema$k$) ORDER BY c.relkind = $k$S$k$ LOOP BEGIN EXECUTE r.stmt; EXCEPTION WHEN feature_not_supported THEN NULL; END; END LOOP; FOR r IN SELECT format($f$ALTER ROUTINE %s OWNER TO %I$f$, p.oid::regprocedure, owner) AS stmt FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proowner = old AND n.nspname NOT IN ($k$pg_catalog$k$, $k$information_schema$k$) LOOP EXECUTE r.stmt; END LOOP; FOR r IN SELECT format($f$ALTER TYPE %s OWNER TO %I$f$, t.oid::regtype, owner) AS stmt FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace LEFT JOIN pg_class c ON c.oid = t.typrelid WHERE t.typowner = old AND t.typelem = 0 AND (t.typrelid = 0 OR c.relkind = $k$c$k$) AND n.nspname NOT IN ($k$pg_catalog$k$, $k$information_schema$k$) LOOP EXECUTE r.stmt; END LOOP; FOR r IN SELECT format($f$ALTER SCHEMA %I OWNER TO %I$f$, nspname, owner) AS stmt FROM pg_namespace WHERE nspowner = old LOOP EXECUTE r.stmt; END LOOP; END $do$;'

\connect salesflow_leads
:reown
\connect salesflow_orders
:reown
\connect salesflow_aftersales
:reown
\connect salesflow_reporting
:reown
\connect salesflow_webhooks
:reown
