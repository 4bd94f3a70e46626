-- Notifications to people (services/webhooks/notifications). The directory: what the public events told us about
-- leads (owner, grade, team), people (team, role) and sold orders / complaints, so a rule can find the owner and the
-- owner's manager. Kept in the consumer's transaction, like everything the events change here.
CREATE TABLE notify_leads (
    lead_id  text PRIMARY KEY,
    owner_id text,
    grade    text,
    team_id  text
);
CREATE TABLE notify_people (
    person_id text PRIMARY KEY,
    team_id   text    NOT NULL,
    role      text    NOT NULL,  -- consultant | manager (as ConsultantRegistered says; may grow)
    active    boolean NOT NULL DEFAULT true
);
CREATE INDEX notify_people_team ON notify_people (team_id) WHERE active;
CREATE TABLE notify_orders (
    order_id      text PRIMARY KEY,
    consultant_id text,
    team_id       text
);
CREATE TABLE notify_complaints (
    complaint_id text PRIMARY KEY,
    order_id     text
);

-- Where a person is reached (configuration over HTTP). quiet_hours NULL: the department's default; '' none.
CREATE TABLE notification_recipients (
    person_id        text PRIMARY KEY,
    wecom_webhook    text,
    dingtalk_webhook text,
    dingtalk_secret  text,
    email            text,
    quiet_hours      text,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per notification (source event, rule, person, channel): the delivery queue and the current state of the
-- notification's event stream (stream_id 'notification-<id>' in the kernel's events table, version = its length).
-- status: held (quiet hours, due at their end), pending (due at due_at), delivered, dead (gave up after the retry
-- rounds), unaddressed (the person has no channel configured: kept, so the digest and the list show it).
CREATE TABLE notifications (
    notification_id   uuid PRIMARY KEY,
    source_event_id   uuid        NOT NULL,
    source_event_type text        NOT NULL,
    rule              text        NOT NULL,
    recipient_id      text        NOT NULL,
    channel           text        NOT NULL,  -- wecom | dingtalk | email | none
    team_id           text,
    lead_id           text,
    title             text        NOT NULL,
    text              text        NOT NULL,
    status            text        NOT NULL
        CHECK (status IN ('held', 'pending', 'delivered', 'dead', 'unaddressed')),
    due_at            timestamptz NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    rounds            integer     NOT NULL DEFAULT 0,
    last_error        text,
    version           integer     NOT NULL DEFAULT 1,
    raised_at         timestamptz NOT NULL,
    delivered_at      timestamptz,
    seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- the list's cursor: stable, increasing
    UNIQUE (source_event_id, rule, recipient_id, channel)
);
CREATE INDEX notifications_due ON notifications (due_at) WHERE status IN ('held', 'pending');
CREATE INDEX notifications_recipient ON notifications (recipient_id, seq);
CREATE INDEX notifications_team ON notifications (team_id, seq);
