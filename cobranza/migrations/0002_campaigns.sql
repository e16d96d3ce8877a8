-- Campaigns run by CampaignWorkflow: fan-out progress, controls propagated to every account, and
-- the inbox of portfolio files a schedule imports. Counts are kept by the same transactions that
-- mark each account, so the campaigns row is exact at every moment.

-- status: imported -> starting (fan-out under way) -> started (every account resolved)
--         -> completed (every started collection closed) | cancelled
ALTER TABLE campaigns
    ADD COLUMN accounts_started  integer NOT NULL DEFAULT 0,
    ADD COLUMN accounts_failed   integer NOT NULL DEFAULT 0,
    -- invalid file lines left out with --skip-invalid (they never reach campaign_accounts)
    ADD COLUMN lines_rejected    integer NOT NULL DEFAULT 0,
    ADD COLUMN paused            boolean NOT NULL DEFAULT false,
    ADD COLUMN source            text NOT NULL DEFAULT 'cli',
    ADD COLUMN workflow_id       text,
    ADD COLUMN fanout_started_at timestamptz,
    ADD COLUMN fanout_done_at    timestamptz,
    ADD COLUMN finished_at       timestamptz,
    ADD COLUMN updated_at        timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT campaigns_status_known
        CHECK (status IN ('imported', 'starting', 'started', 'completed', 'cancelled'));

ALTER TABLE campaign_accounts
    -- snapshot of the product at import (accounts.product may be owned by an open collection)
    ADD COLUMN product              text,
    ADD COLUMN failed_reason        text,
    -- the campaign whose open collection made this one skip the account
    ADD COLUMN conflict_campaign_id text,
    -- the last campaign control (campaign_controls.seq) delivered to this account
    ADD COLUMN control_seq          integer NOT NULL DEFAULT 0;

CREATE INDEX campaign_accounts_started_idx ON campaign_accounts (campaign_id, line, account_id)
    WHERE started_at IS NOT NULL;
CREATE INDEX campaign_accounts_account_idx ON campaign_accounts (account_id);

-- Each pause / resume / cancel of a campaign, numbered per campaign by the workflow.
CREATE TABLE campaign_controls (
    campaign_id        text NOT NULL REFERENCES campaigns (campaign_id),
    seq                integer NOT NULL CHECK (seq > 0),
    action             text NOT NULL CHECK (action IN ('pause', 'resume', 'cancel')),
    requested_by       text NOT NULL,
    reason             text NOT NULL DEFAULT '',
    requested_at       timestamptz NOT NULL,
    finished_at        timestamptz,
    accounts_signalled integer NOT NULL DEFAULT 0,
    accounts_closed    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, seq)
);

-- Portfolio files a scheduled inbox has processed, by content: the same bytes are never loaded
-- twice, whatever the file is called.
CREATE TABLE campaign_inbox_files (
    file_sha256      text PRIMARY KEY,
    schedule_id      text NOT NULL,
    file_name        text NOT NULL,
    campaign_id      text,
    status           text NOT NULL CHECK (status IN ('imported', 'rejected')),
    detail           text NOT NULL DEFAULT '',
    processed_at     timestamptz NOT NULL DEFAULT now()
);
