-- Compliance: the per-debtor contact gate, debtor-requested hours, credit-bureau notices/reports.

-- Every contact granted to a person, across all their accounts and campaigns (Ley 2300 caps count
-- contacts to the debtor, not per account). Written under a row lock on the debtor.
CREATE TABLE contact_reservations (
    reservation_key  text PRIMARY KEY,          -- workflow id : collection id : attempt seq
    debtor_id        uuid NOT NULL REFERENCES debtors (debtor_id),
    account_id       text NOT NULL,
    channel          text NOT NULL,
    purpose          text NOT NULL,
    at               timestamptz NOT NULL,
    two_way          boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_reservations_debtor_idx ON contact_reservations (debtor_id, at);

-- Other contact hours a debtor asked for, in an instrument separate from the contract (Art. 3).
CREATE TABLE debtor_requested_hours (
    id               bigserial PRIMARY KEY,
    debtor_id        uuid NOT NULL REFERENCES debtors (debtor_id),
    start_time       time NOT NULL,
    end_time         time NOT NULL,
    weekdays         integer[] NOT NULL,
    requested_on     date NOT NULL,
    reference        text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE debtors ADD COLUMN contract_signed_on date;

-- Prior express authorization to report to credit bureaus (Ley 1266 de 2008).
ALTER TABLE accounts ADD COLUMN bureau_authorized boolean NOT NULL DEFAULT false;

-- What the local bureau adapter would have sent: notices to the debtor and negative reports.
CREATE TABLE bureau_messages (
    message_key      text PRIMARY KEY,          -- workflow id : collection id : seq
    account_id       text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('notice', 'report')),
    balance_cop      bigint NOT NULL,
    at               timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bureau_messages_account_idx ON bureau_messages (account_id, at);
