-- The test-drive fleet and its calendar, derived from the test-drive-vehicle-<id> streams in the same transaction
-- as their events (adapters/unit_of_work.py). The vehicle's aggregate decides overlaps (no double booking); these
-- tables answer the calendar and find a booking's vehicle.
CREATE TABLE leads_test_drive_vehicles (
    vehicle_id    text PRIMARY KEY,
    model         text        NOT NULL,
    trim          text,
    colour        text,
    plate         text        NOT NULL,
    vin           text,
    registered_at timestamptz NOT NULL,
    version       integer     NOT NULL
);

CREATE TABLE leads_test_drives (
    booking_id       text PRIMARY KEY,
    vehicle_id       text        NOT NULL,
    lead_id          text        NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    route            text        NOT NULL,
    status           text        NOT NULL,
    booked_by        text,
    started_at       timestamptz,
    ended_at         timestamptz,
    feedback_score   integer,
    feedback_note    text
);
CREATE INDEX leads_test_drives_calendar ON leads_test_drives (vehicle_id, starts_at);
CREATE INDEX leads_test_drives_lead ON leads_test_drives (lead_id);
