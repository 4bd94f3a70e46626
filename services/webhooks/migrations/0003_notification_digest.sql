-- The daily digest's "waiting for approval": loss requests not yet approved or rejected (from LossRequested,
-- LossApproved, LossRejected). The team is resolved when the digest is made (the requester's, else the lead's).
CREATE TABLE notify_loss_requests (
    lead_id      text PRIMARY KEY,
    requested_by text,
    requested_at timestamptz NOT NULL,
    open         boolean     NOT NULL DEFAULT true
);
CREATE INDEX notifications_team_raised ON notifications (team_id, raised_at);
