-- The step log writer in one call: the account's lock, the retry check, the chain link, the row
-- and the collection's read model. One round trip per row instead of two statements, and the
-- latest hash is read after the lock is held: this is a VOLATILE plpgsql function, so each
-- statement in it takes a fresh snapshot (a single SELECT that waits for the lock would still
-- read from its older snapshot and link to a stale row, forking the chain).
--
-- The caller sends the row's canonical bytes (cobranza.hashchain.canonical, everything but the
-- previous hash), so the hash is the one cobranza.hashchain.row_hash computes and verify_chain
-- checks: sha256(prev_hash || '\n' || canonical).

CREATE FUNCTION collection_log_append(
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
    OUT hash         text,
    OUT inserted     boolean
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    prev text;
BEGIN
    -- Serialize the writers of one account, so each row links to the one before it.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_account, 2300));
    -- A retry of a step whose row an earlier attempt wrote: that row stands.
    SELECT l.hash INTO hash FROM collection_log l
     WHERE l.workflow_id = p_workflow AND l.collection_id = p_collection AND l.seq = p_seq;
    IF FOUND THEN
        inserted := false;
        RETURN;
    END IF;
    SELECT l.hash INTO prev FROM collection_log l
     WHERE l.account_id = p_account ORDER BY l.id DESC LIMIT 1;
    prev := coalesce(prev, repeat('0', 64));
    hash := encode(sha256(convert_to(prev || E'\n', 'UTF8') || p_canonical), 'hex');
    INSERT INTO collection_log (account_id, workflow_id, run_id, collection_id, seq, kind, stage,
        detail, occurred_at, recorded_at, prev_hash, hash)
    VALUES (p_account, p_workflow, p_run, p_collection, p_seq, p_kind, p_stage, p_detail,
        p_occurred, p_recorded, prev, hash);
    INSERT INTO collections (collection_id, workflow_id, account_id, campaign_id, strategy, stage,
        outcome, balance_cop, original_balance_cop, last_seq, opened_at, closed_at)
    VALUES (p_collection, p_workflow, p_account, p_campaign, p_strategy, p_stage, p_outcome,
        p_balance, p_original, p_seq, p_occurred, p_closed)
    ON CONFLICT (collection_id) DO UPDATE SET
        stage = EXCLUDED.stage, outcome = EXCLUDED.outcome, balance_cop = EXCLUDED.balance_cop,
        last_seq = GREATEST(collections.last_seq, EXCLUDED.last_seq),
        closed_at = EXCLUDED.closed_at, updated_at = now();
    inserted := true;
END
$$;
