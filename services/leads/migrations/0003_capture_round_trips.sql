-- Fewer round trips per command. Each round trip to PostgreSQL costs the service about 100 µs of CPU (a trivial
-- query on the 2-core bench machine) and puts a server wake-up into the request's latency; a capture used to make
-- about eighteen. Now a capture is BEGIN, leads_lock_phone,
-- leads_take_rotation_ticket, the event-store append, leads_record_changes, COMMIT.

-- Take the phone's transaction lock, then read what dedupe needs. Everyone capturing a phone serialises here, so
-- two channels racing cannot both create a lead. The reads run as statements of their own after the lock (a
-- VOLATILE function takes a new snapshot per statement under READ COMMITTED), so they see what the previous
-- holder of the lock committed. The key is the one adapters/unit_of_work.py's advisory locks use.
CREATE FUNCTION leads_lock_phone(
    p_phone text, p_source_system text, p_external_id text,
    OUT external_id_lead text, OUT open_lead text, OUT known_customer text
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('leads.phone:' || p_phone, 7245));
    SELECT e.lead_id INTO external_id_lead FROM leads_external_ids e
        WHERE e.source_system = p_source_system AND e.external_id = p_external_id;
    SELECT v.lead_id INTO open_lead FROM leads_view v
        WHERE v.phone = p_phone AND v.is_open ORDER BY v.captured_at DESC LIMIT 1;
    SELECT c.customer_id INTO known_customer FROM leads_customers c WHERE c.phone = p_phone;
END;
$$;

-- Everything a command writes besides its events (except the rare organisation rows), in one call, after the append (the append must be the
-- transaction's first write; see shared/eventstore/store.py). Each key of p holds a JSON array of rows; a missing
-- key writes nothing. A unique violation on a lookup key surfaces as usual (the caller retries the unit of work).
CREATE FUNCTION leads_record_changes(p jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Each statement only for keys present: starting an executor for an empty array costs more than the test.
    IF p ? 'customers' THEN
        INSERT INTO leads_customers (phone, customer_id)
            SELECT x.phone, x.customer_id FROM jsonb_to_recordset(p->'customers') AS x(phone text, customer_id text);
    END IF;
    IF p ? 'external_ids' THEN
        INSERT INTO leads_external_ids (source_system, external_id, lead_id)
            SELECT x.source_system, x.external_id, x.lead_id
            FROM jsonb_to_recordset(p->'external_ids') AS x(source_system text, external_id text, lead_id text);
    END IF;
    IF p ? 'referrals' THEN
        INSERT INTO leads_referrals (referral_id, lead_id)
            SELECT x.referral_id, x.lead_id FROM jsonb_to_recordset(p->'referrals') AS x(referral_id text, lead_id text);
    END IF;
    IF p ? 'orders' THEN
        INSERT INTO leads_orders (order_id, lead_id)
            SELECT x.order_id, x.lead_id FROM jsonb_to_recordset(p->'orders') AS x(order_id text, lead_id text);
    END IF;
    IF p ? 'views' THEN
        INSERT INTO leads_view (lead_id, customer_id, phone, name, channel, interest, status, stage, grade, is_open,
                owner_id, team_id, pooled, released_by, released_at, follow_up_due_at, overdue, loss_pending,
                order_id, captured_at, last_activity_at, version)
            SELECT v.lead_id, v.customer_id, v.phone, v.name, v.channel, v.interest, v.status, v.stage, v.grade,
                v.is_open, v.owner_id, v.team_id, v.pooled, v.released_by, v.released_at, v.follow_up_due_at,
                v.overdue, v.loss_pending, v.order_id, v.captured_at, v.last_activity_at, v.version
            FROM jsonb_populate_recordset(NULL::leads_view, p->'views') AS v
            ON CONFLICT (lead_id) DO UPDATE SET status = EXCLUDED.status, stage = EXCLUDED.stage,
                grade = EXCLUDED.grade, is_open = EXCLUDED.is_open, owner_id = EXCLUDED.owner_id,
                team_id = EXCLUDED.team_id, pooled = EXCLUDED.pooled, released_by = EXCLUDED.released_by,
                released_at = EXCLUDED.released_at, follow_up_due_at = EXCLUDED.follow_up_due_at,
                overdue = EXCLUDED.overdue, loss_pending = EXCLUDED.loss_pending, order_id = EXCLUDED.order_id,
                last_activity_at = EXCLUDED.last_activity_at, version = EXCLUDED.version;
    END IF;
    -- Timers: which kernel timer stands for each (lead, kind) is mirrored in leads_timers.
    IF p ? 'cancelled_timers' THEN
        PERFORM sf_cancel_timers(ARRAY(SELECT jsonb_array_elements_text(p->'cancelled_timers')));
    END IF;
    IF p ? 'disarmed' THEN
        DELETE FROM leads_timers t USING jsonb_to_recordset(p->'disarmed') AS x(lead_id text, kind text)
            WHERE t.lead_id = x.lead_id AND t.kind = x.kind;
    END IF;
    IF p ? 'armed' THEN
        PERFORM sf_schedule_timers(p->'armed');
        INSERT INTO leads_timers (lead_id, kind, timer_id, due_at, payload)
            SELECT x.lead_id, x.kind, x.timer_id, x.due_at, x.payload
            FROM jsonb_to_recordset(p->'armed')
                 AS x(lead_id text, kind text, timer_id text, due_at timestamptz, payload jsonb)
            ON CONFLICT (lead_id, kind) DO UPDATE SET timer_id = EXCLUDED.timer_id, due_at = EXCLUDED.due_at,
                payload = EXCLUDED.payload;
    END IF;
END;
$$;

-- Round robin without a lock held to commit. The rotation used to be a cursor row read and written under the team's
-- exclusive lock, held until COMMIT — through the WAL flush — so one team took at most a few hundred captures a
-- second whatever the hardware. Now each pick takes a ticket from the team's own sequence (nextval is not
-- transactional: no lock, no wait) and the ticket modulo the number of active consultants says who is next.
-- Concurrent captures get distinct consecutive tickets, so they are spread evenly; a rolled-back capture skips
-- one turn.
CREATE FUNCTION leads_rotation_sequence(p_team_id text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'leads_rotation_' || md5(p_team_id) $$;

-- Called when a team is registered (adapters/unit_of_work.py), in the same transaction.
CREATE FUNCTION leads_create_rotation(p_team_id text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I AS bigint MINVALUE 0 START 0',
                   leads_rotation_sequence(p_team_id));
END;
$$;

SELECT leads_create_rotation(team_id) FROM leads_teams;
DROP TABLE leads_assignment_cursors;

-- The team's rotation for one pick, in one call. The team's round-robin lock is taken *shared*: captures do not
-- wait for each other, but a deactivation or team move (which takes it exclusively to hand leads over) waits for
-- captures in flight and holds new ones back, so nobody is assigned a consultant who is leaving. Same key as
-- app/assignment.py's round_robin_lock.
CREATE FUNCTION leads_take_rotation_ticket(
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
