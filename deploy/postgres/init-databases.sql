-- Creates the salesflow role and one database per service. Idempotent: safe to run on every `stack.sh up`.
-- Used by both paths:
--   * native: deploy/native/postgres.sh runs it as the `postgres` OS user (psql over the Unix socket);
--   * docker: mounted into /docker-entrypoint-initdb.d/ of the postgres:15 container (runs once, on an empty
--     data directory, as POSTGRES_USER=salesflow, which the image already made a superuser).
-- Needs psql (\gexec). Runs with ON_ERROR_STOP.
--
-- Privileges: the role is SUPERUSER on purpose. It is a dev/test-only database on loopback; the official image
-- makes POSTGRES_USER a superuser, so the native path matches the Docker path (no "works here, not there").
-- The app itself needs only: LOGIN, CREATEDB (tests create throw-away databases) and ownership of its database;
-- pg_current_snapshot() needs no special privilege.

SELECT format('CREATE ROLE %I LOGIN', 'salesflow')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'salesflow')
\gexec

ALTER ROLE salesflow WITH LOGIN SUPERUSER CREATEDB PASSWORD 'salesflow';

SELECT format('CREATE DATABASE %I OWNER salesflow', db)
FROM unnest(ARRAY['salesflow_leads', 'salesflow_orders', 'salesflow_aftersales', 'salesflow_reporting']) AS db
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = db)
\gexec
