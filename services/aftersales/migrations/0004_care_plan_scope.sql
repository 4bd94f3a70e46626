-- Who a care plan belongs to, for the access rules (services/aftersales/app/access.py): the consultant who sold
-- the order and its team (Delivered.team_id). Plans from before stay NULL (shared: every desk member sees them)
-- until the read tables are rebuilt from the event store (their CarePlanScheduled has the consultant, not the team).
ALTER TABLE care_plans ADD COLUMN consultant_id text;
ALTER TABLE care_plans ADD COLUMN team_id text;
CREATE INDEX care_plans_customer ON care_plans (customer_id);
