-- Core schema: people (PII), accounts, campaigns, the append-only collection log, the contact outbox
-- and payments. PII (names, document numbers, phones, emails, addresses) lives only in `debtors`.

CREATE TABLE debtors (
    debtor_id        uuid PRIMARY KEY,
    document_type    text NOT NULL,
    document_number  text NOT NULL,
    full_name        text NOT NULL,
    phone            text,
    email            text,
    address          text,
    city             text,
    authorized_channels text[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (document_type, document_number)
);

CREATE TABLE campaigns (
    campaign_id      text PRIMARY KEY,
    strategy         text NOT NULL,
    file_name        text NOT NULL,
    file_sha256      text NOT NULL,
    accounts_total   integer NOT NULL DEFAULT 0,
    accounts_skipped integer NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'imported',
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    account_id       text PRIMARY KEY,
    debtor_id        uuid NOT NULL REFERENCES debtors (debtor_id),
    product          text NOT NULL,
    balance_cop      bigint NOT NULL CHECK (balance_cop > 0),
    days_past_due    integer NOT NULL CHECK (days_past_due >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_debtor_idx ON accounts (debtor_id);

-- Which accounts a campaign holds, from which file line, and whether its workflow was started.
CREATE TABLE campaign_accounts (
    campaign_id      text NOT NULL REFERENCES campaigns (campaign_id),
    account_id       text NOT NULL REFERENCES accounts (account_id),
    line             integer NOT NULL,
    balance_cop      bigint NOT NULL,
    days_past_due    integer NOT NULL,
    started_at       timestamptz,
    skipped_reason   text,
    PRIMARY KEY (campaign_id, account_id)
);
CREATE INDEX campaign_accounts_pending_idx ON campaign_accounts (campaign_id, line)
    WHERE started_at IS NULL AND skipped_reason IS NULL;

-- Read model of each collection (one per workflow run chain), kept current by the step log writer.
CREATE TABLE collections (
    collection_id    text PRIMARY KEY,          -- first run id of the workflow chain
    workflow_id      text NOT NULL,
    account_id       text NOT NULL REFERENCES accounts (account_id),
    campaign_id      text,
    strategy         text NOT NULL,
    stage            text NOT NULL,
    outcome          text,                      -- null while open
    balance_cop      bigint NOT NULL,
    original_balance_cop bigint NOT NULL,
    last_seq         integer NOT NULL,
    opened_at        timestamptz NOT NULL,
    closed_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX collections_account_idx ON collections (account_id);
CREATE INDEX collections_campaign_idx ON collections (campaign_id);
CREATE UNIQUE INDEX collections_one_open_per_account ON collections (account_id) WHERE outcome IS NULL;

-- The business record auditors read: one row per workflow step, append-only, hash-chained per account.
CREATE TABLE collection_log (
    id               bigserial PRIMARY KEY,
    account_id       text NOT NULL,
    workflow_id      text NOT NULL,
    run_id           text NOT NULL,
    collection_id    text NOT NULL,
    seq              integer NOT NULL CHECK (seq > 0),
    kind             text NOT NULL,
    stage            text NOT NULL,
    detail           jsonb NOT NULL,
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL,
    prev_hash        text NOT NULL,
    hash             text NOT NULL UNIQUE,
    UNIQUE (workflow_id, collection_id, seq)
);
CREATE INDEX collection_log_account_idx ON collection_log (account_id, id);

CREATE FUNCTION collection_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'collection_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER collection_log_no_update_delete
    BEFORE UPDATE OR DELETE ON collection_log
    FOR EACH ROW EXECUTE FUNCTION collection_log_append_only();
CREATE TRIGGER collection_log_no_truncate
    BEFORE TRUNCATE ON collection_log
    FOR EACH STATEMENT EXECUTE FUNCTION collection_log_append_only();

-- Every message the system decides to send; unique by idempotency key so a retried step never
-- messages the debtor twice. The destination is PII and stays here.
CREATE TABLE contact_outbox (
    idempotency_key  text PRIMARY KEY,          -- workflow id : collection id : seq
    account_id       text NOT NULL,
    workflow_id      text NOT NULL,
    seq              integer NOT NULL,
    channel          text NOT NULL,
    template         text NOT NULL,
    destination      text,
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending',  -- pending, delivered, failed, no_destination
    provider_message_id text,
    reply            jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    answered_at      timestamptz
);
CREATE INDEX contact_outbox_account_idx ON contact_outbox (account_id);

-- Payments as reported by core banking or a gateway; unique by reference.
CREATE TABLE payments (
    payment_reference text PRIMARY KEY,
    account_id       text NOT NULL,
    amount_cop       bigint NOT NULL CHECK (amount_cop > 0),
    paid_at          timestamptz NOT NULL,
    source           text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_account_idx ON payments (account_id);
