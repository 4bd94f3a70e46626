-- Customer search (app/customer_search.py, adapters/customer_search.py): a name part or a number's last digits is
-- a substring match, which a btree cannot serve; pg_trgm's GIN indexes serve =, prefix and substring LIKE/ILIKE.
-- pg_trgm is a trusted extension (PostgreSQL 13+): the service's role creates it in its own database, no superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX leads_view_name_trgm ON leads_view USING gin (name gin_trgm_ops);
CREATE INDEX leads_view_phone_trgm ON leads_view USING gin (phone gin_trgm_ops);
-- A customer's leads (the card, the customer page, search results) were read by a scan.
CREATE INDEX leads_view_customer ON leads_view (customer_id, captured_at);
