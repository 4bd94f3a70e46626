-- Capture's rules (re-applied whenever this file changes: shared/migrations.py, "rules"). Python side:
-- app/commands.py (CaptureLeadHandler) and adapters/recorded_changes.py (the typed payload of leads_record_lookups).

-- The dedupe target. Take the phone's transaction lock, then read what dedupe needs: the lead already recorded for
-- the request's (source system, external id) — a resend answers with it —, the newest *open* lead with this phone
-- — a second channel's contact becomes a touchpoint on it —, and the customer the phone belongs to — a returning
-- customer's new lead keeps their customer id. Everyone capturing a phone serialises on the lock, so two channels
-- racing cannot both create a lead. The reads are statements of their own after the lock (a VOLATILE function takes
-- a new snapshot per statement under READ COMMITTED), so they see what the previous holder of the lock committed.
-- The key is the one adapters/unit_of_work.py's advisory locks use (namespace 7245).
CREATE OR REPLACE FUNCTION leads_lock_phone(
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

-- The capture of a new lead in one round trip instead of two: the phone's lock and dedupe reads (leads_lock_phone),
-- then — only if they found neither the request's lead nor an open lead, i.e. only when the capture goes on to create
-- a lead — the team's rotation ticket (leads_take_rotation_ticket, rotation.sql), in the same lock order as two calls.
-- A capture that finds an existing lead takes no ticket, so nobody loses a turn. ticket_taken says whether the
-- rotation columns are filled (team_known false: an unknown team, no ticket taken, as leads_take_rotation_ticket).
CREATE OR REPLACE FUNCTION leads_lock_phone_and_take_ticket(
    p_phone text, p_source_system text, p_external_id text, p_team_id text,
    OUT external_id_lead text, OUT open_lead text, OUT known_customer text,
    OUT ticket_taken boolean, OUT team_known boolean, OUT consultant_ids text[], OUT ticket bigint
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT l.external_id_lead, l.open_lead, l.known_customer INTO external_id_lead, open_lead, known_customer
        FROM leads_lock_phone(p_phone, p_source_system, p_external_id) AS l;
    ticket_taken := external_id_lead IS NULL AND open_lead IS NULL;
    IF ticket_taken THEN
        SELECT r.team_known, r.consultant_ids, r.ticket INTO team_known, consultant_ids, ticket
            FROM leads_take_rotation_ticket(p_team_id) AS r;
    END IF;
END;
$$;

-- The lookup rows and leads_view rows a command wrote (keys of p: customers, external_ids, referrals, orders,
-- views; each a JSON array of rows; a missing key writes nothing — starting an executor for an empty array costs
-- more than the test). A unique violation on a lookup key surfaces: the caller retries its unit of work.
CREATE OR REPLACE FUNCTION leads_record_lookups(p jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
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
                order_id, captured_at, last_activity_at, version, lost_reason)
            SELECT v.lead_id, v.customer_id, v.phone, v.name, v.channel, v.interest, v.status, v.stage, v.grade,
                v.is_open, v.owner_id, v.team_id, v.pooled, v.released_by, v.released_at, v.follow_up_due_at,
                v.overdue, v.loss_pending, v.order_id, v.captured_at, v.last_activity_at, v.version, v.lost_reason
            FROM jsonb_populate_recordset(NULL::leads_view, p->'views') AS v
            -- The phone and the customer too: they change when the customer's number does (LeadPhoneChanged) and
            -- when the customer is merged into another (LeadCustomerMerged).
            ON CONFLICT (lead_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, phone = EXCLUDED.phone, status = EXCLUDED.status,
                stage = EXCLUDED.stage, grade = EXCLUDED.grade, is_open = EXCLUDED.is_open, owner_id = EXCLUDED.owner_id,
                team_id = EXCLUDED.team_id, pooled = EXCLUDED.pooled, released_by = EXCLUDED.released_by,
                released_at = EXCLUDED.released_at, follow_up_due_at = EXCLUDED.follow_up_due_at,
                overdue = EXCLUDED.overdue, loss_pending = EXCLUDED.loss_pending, order_id = EXCLUDED.order_id,
                last_activity_at = EXCLUDED.last_activity_at, version = EXCLUDED.version,
                lost_reason = EXCLUDED.lost_reason;
    END IF;
END;
$$;

-- Everything a command writes besides its events (except the rare organisation rows), in one round trip, after the
-- append (the append must be the transaction's first write; see shared/eventstore/store.py): the lookups above and
-- the timers (timers.sql) and the work queue's rows (work_queue.sql). Its argument is built by one typed function: adapters/recorded_changes.py.
CREATE OR REPLACE FUNCTION leads_record_changes(p jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM leads_record_lookups(p);
    PERFORM leads_record_timers(p);
    PERFORM leads_record_work(p);
END;
$$;

-- The append and the bookkeeping of a unit of work of leads only in one statement: sf_append first (it must be the
-- transaction's first write, see shared/eventstore/store.py), then leads_record_changes — one round trip instead of
-- two. Called through the event store's append (``through``), which maps sf_append's errors as for a plain append.
CREATE OR REPLACE FUNCTION leads_append_recording(p_requests jsonb, p_changes jsonb)
RETURNS TABLE (stream_id text, new_version integer)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY SELECT a.stream_id, a.new_version FROM sf_append(p_requests) AS a;
    PERFORM leads_record_changes(p_changes);
END;
$$;
