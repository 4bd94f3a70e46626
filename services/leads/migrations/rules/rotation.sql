-- Round robin's rules (re-applied whenever this file changes: shared/migrations.py, "rules"). Python side:
-- app/assignment.py (pick: the ticket modulo the candidates) and app/commands.py (a capture takes its ticket only
-- after its fields are valid, so a refused capture costs nobody their turn).

-- Each team has its own sequence of tickets. The rotation used to be a cursor row read and written under the team's
-- exclusive lock, held until COMMIT — through the WAL flush — so one team took at most a few hundred captures a
-- second whatever the hardware. Now each pick takes a ticket (nextval is not transactional: no lock, no wait) and
-- the ticket modulo the number of active consultants says who is next. Concurrent captures get distinct
-- consecutive tickets, so they are spread evenly; a capture that fails after taking its ticket (a rollback) skips
-- one turn. (The cursor table, leads_assignment_cursors, which migrations/0001 creates, is dropped by 0003.)
CREATE OR REPLACE FUNCTION leads_rotation_sequence(p_team_id text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'leads_rotation_' || md5(p_team_id) $$;

-- Called when a team is registered (adapters/unit_of_work.py), in the same transaction; idempotent.
CREATE OR REPLACE FUNCTION leads_create_rotation(p_team_id text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I AS bigint MINVALUE 0 START 0',
                   leads_rotation_sequence(p_team_id));
END;
$$;

-- Every registered team has its sequence (a no-op when they all do).
SELECT leads_create_rotation(team_id) FROM leads_teams;

-- The team's rotation for one pick, in one call. Membership: the team's *active* consultants with role
-- 'consultant' (managers are not in the rotation), in registration order (seq). The team's round-robin lock is
-- taken *shared*: captures do not wait for each other, but a deactivation or team move (which takes it exclusively
-- to hand leads over) waits for captures in flight and holds new ones back, so nobody is assigned a consultant who
-- is leaving. Same key as app/assignment.py's round_robin_lock. An unknown team: team_known false, no ticket taken.
CREATE OR REPLACE FUNCTION leads_take_rotation_ticket(
    p_team_id text, OUT team_known boolean, OUT consultant_ids text[], OUT ticket bigint
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('leads.round-robin:' || p_team_id, 7245));
    team_known := EXISTS (SELECT 1 FROM leads_teams t WHERE t.team_id = p_team_id);
    IF NOT team_known THEN
        RETURN;
    END IF;
    SELECT coalesce(array_agg(c.consultant_id ORDER BY c.seq), '{}') INTO consultant_ids
        FROM leads_consultants c WHERE c.team_id = p_team_id AND c.active AND c.role = 'consultant';
    ticket := nextval(leads_rotation_sequence(p_team_id)::regclass);
END;
$$;
