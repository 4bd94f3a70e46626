-- NOTIFY only when the relay asked to be woken.
--
-- A committing transaction that has sent NOTIFY holds a cluster-wide lock on the notification queue until its
-- commit (including the WAL flush) is done, so notifying writers commit one at a time and lose group commit:
-- measured, single-event appends from 8 writers fell from ~3,600/s (raw INSERT) to ~570/s. The relay only needs a
-- wake-up when it is idle, so it arms the wake-up before it waits and disarms it when it wakes; while it is busy
-- (and under load it always is), commits send nothing.
CREATE TABLE relay_wakeup (
    channel text PRIMARY KEY,
    armed   boolean NOT NULL DEFAULT false
);

-- Disarmed until a relay goes idle and arms it: with no relay listening, nobody needs the NOTIFY.
INSERT INTO relay_wakeup (channel, armed) VALUES ('sf_events', false);

CREATE OR REPLACE FUNCTION sf_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM relay_wakeup WHERE channel = 'sf_events' AND armed) THEN
        PERFORM pg_notify('sf_events', '');
    END IF;
    RETURN NULL;
END;
$$;
