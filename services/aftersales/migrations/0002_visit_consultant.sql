-- Satisfaction per consultant: the consultant who sold the order, copied onto each visit of its plan.
ALTER TABLE care_visits ADD COLUMN consultant_id text;
CREATE INDEX care_visits_consultant ON care_visits (consultant_id) WHERE status = 'completed';
