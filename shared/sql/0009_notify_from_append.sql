-- The relay's wake-up moves from a statement trigger on events into sf_append (shared/sql/rules/sf_append.sql,
-- which reads the armed flag in its INSERT statement and sends the NOTIFY). The trigger cost every append a
-- statement of its own and the trigger machinery around it: ~15 µs of ~140 µs backend CPU per single-event append,
-- measured in-server (numbers in sf_append.sql). The rules are applied right after the migrations, in the same
-- migrate() run; an append in between commits without waking the relay, whose poll then picks it up.
DROP TRIGGER events_notify ON events;
DROP FUNCTION sf_notify_events();
