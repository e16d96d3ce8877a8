-- The contact step in two statements instead of a transaction of six.
--
-- Before: BEGIN; lock the debtor and read them; read their reservations; insert the reservation;
-- append the log row; queue the outbox message; COMMIT. Each statement costs the worker a round
-- trip and its Python overhead, and the contact was the dearest step in bench/steps.py.
--
-- Now the gate is optimistic. `contact_gate_state` is everything the gate judges (the debtor's
-- authorizations, requested hours, contract date, the contact point, their reservations in the
-- look-back window) as one jsonb value. The activity reads it without a lock, decides with the
-- pure rules in Python, then calls `contact_send_commit` with the digest of what it read. That
-- function locks the debtor, reads the state again and, only if it is still the same, writes the
-- reservation, the log row and the outbox message together; otherwise it answers 'stale' and
-- writes nothing, and the activity reads and decides again. Two accounts of one person racing
-- for today's contact still get exactly one: the second finds the first's reservation in the
-- state and no longer matches.

CREATE FUNCTION contact_gate_state(
    p_account text,
    p_point   text,          -- phone, email or address: the debtors column the channel uses
    p_since   timestamptz,   -- the rules' look-back window starts here
    p_key     text           -- this ask's reservation key (a retry finds its own grant)
) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'debtor_id', d.debtor_id,
        'authorized_channels', to_jsonb(d.authorized_channels),
        'contract_signed_on', d.contract_signed_on,
        'product', a.product,
        'full_name', d.full_name,
        -- A contact point an agent marked invalid (wrong number) is never used again; an
        -- empty one is none.
        'destination', NULLIF(CASE WHEN EXISTS (
                SELECT 1 FROM contact_points_invalid i
                 WHERE i.debtor_id = d.debtor_id AND i.point = p_point
                   AND i.value = CASE p_point WHEN 'phone' THEN d.phone
                                              WHEN 'email' THEN d.email
                                              ELSE d.address END)
            THEN NULL
            ELSE CASE p_point WHEN 'phone' THEN d.phone
                              WHEN 'email' THEN d.email
                              ELSE d.address END
            END, ''),
        'hours', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'start', h.start_time, 'end', h.end_time, 'weekdays', h.weekdays,
                        'requested_on', h.requested_on, 'reference', h.reference) ORDER BY h.id),
                    '[]'::jsonb)
                    FROM debtor_requested_hours h WHERE h.debtor_id = d.debtor_id),
        'reservations', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'at', r.at, 'channel', r.channel, 'purpose', r.purpose,
                        'two_way', r.two_way, 'key', r.reservation_key)
                        ORDER BY r.at, r.reservation_key), '[]'::jsonb)
                    FROM contact_reservations r
                   WHERE r.debtor_id = d.debtor_id
                     AND (r.at >= p_since OR r.reservation_key = p_key)))
      FROM accounts a JOIN debtors d USING (debtor_id)
     WHERE a.account_id = p_account
$$;

CREATE FUNCTION contact_send_commit(
    -- the gate: what was read, and the reservation to record
    p_point          text,
    p_since          timestamptz,
    p_digest         text,          -- md5 of the contact_gate_state the decision was made on
    p_key            text,
    p_channel        text,
    p_purpose        text,
    p_at             timestamptz,
    -- the log row, as collection_log_append takes it
    p_account        text,
    p_workflow       text,
    p_run            text,
    p_collection     text,
    p_seq            integer,
    p_kind           text,
    p_stage          text,
    p_detail         jsonb,
    p_occurred       timestamptz,
    p_recorded       timestamptz,
    p_canonical      bytea,
    p_campaign       text,
    p_strategy       text,
    p_outcome        text,
    p_balance        bigint,
    p_original       bigint,
    p_closed         timestamptz,
    -- the outbox message
    p_message_key    text,
    p_template       text,
    p_destination    text,
    p_body           text,
    OUT gate         text,          -- granted, stale or unknown_account
    OUT hash         text,
    OUT inserted     boolean,
    OUT status       text,
    OUT provider_message_id text,
    OUT reply        jsonb,
    -- what is queued (by this call or an earlier attempt's): a retry sends exactly that
    OUT queued_destination text,
    OUT queued_body  text
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_debtor uuid;
BEGIN
    -- The person's lock serializes every account's contacts to them. VOLATILE plpgsql: the
    -- statements below take fresh snapshots, so they see a reservation committed while we waited.
    SELECT d.debtor_id INTO v_debtor
      FROM accounts a JOIN debtors d USING (debtor_id)
     WHERE a.account_id = p_account
       FOR UPDATE OF d;
    IF NOT FOUND THEN
        gate := 'unknown_account';
        RETURN;
    END IF;
    IF md5(contact_gate_state(p_account, p_point, p_since, p_key)::text)
            IS DISTINCT FROM p_digest THEN
        gate := 'stale';
        RETURN;
    END IF;
    -- A retried ask finds its own reservation and is granted again, not twice.
    INSERT INTO contact_reservations (reservation_key, debtor_id, account_id, channel, purpose, at)
    VALUES (p_key, v_debtor, p_account, p_channel, p_purpose, p_at)
    ON CONFLICT (reservation_key) DO NOTHING;
    SELECT l.hash, l.inserted INTO hash, inserted
      FROM collection_log_append(
               p_account => p_account, p_workflow => p_workflow, p_run => p_run,
               p_collection => p_collection, p_seq => p_seq, p_kind => p_kind,
               p_stage => p_stage, p_detail => p_detail, p_occurred => p_occurred,
               p_recorded => p_recorded, p_canonical => p_canonical, p_campaign => p_campaign,
               p_strategy => p_strategy, p_outcome => p_outcome, p_balance => p_balance,
               p_original => p_original, p_closed => p_closed) l;
    INSERT INTO contact_outbox (idempotency_key, account_id, workflow_id, seq, channel, template,
        destination, body, status)
    VALUES (p_message_key, p_account, p_workflow, p_seq, p_channel, p_template, p_destination,
        p_body, CASE WHEN p_destination IS NULL THEN 'no_destination' ELSE 'pending' END)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING contact_outbox.status, contact_outbox.provider_message_id, contact_outbox.reply,
              contact_outbox.destination, contact_outbox.body
         INTO status, provider_message_id, reply, queued_destination, queued_body;
    IF NOT FOUND THEN
        -- A retry: the message was queued by an earlier attempt; report how it went.
        SELECT o.status, o.provider_message_id, o.reply, o.destination, o.body
          INTO status, provider_message_id, reply, queued_destination, queued_body
          FROM contact_outbox o WHERE o.idempotency_key = p_message_key;
    END IF;
    gate := 'granted';
END
$$;
