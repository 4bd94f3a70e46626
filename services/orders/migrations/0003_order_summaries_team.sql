-- The team an order was sold in (ContractSigned.team_id, from the issuing seller's token): a manager's lists show
-- their team's orders and the team-less ones (shop checkouts). Rows from before keep NULL until
-- POST /admin/order-summaries/rebuild (their events carry no team either, so they stay in every manager's lists).
ALTER TABLE order_summaries ADD COLUMN team_id text;
CREATE INDEX order_summaries_team_open ON order_summaries (team_id) WHERE status = 'signed';
