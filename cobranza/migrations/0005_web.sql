-- The web console and HTTP API: people who log in, tokens for integrations, and who did what.
-- Agents and supervisors log in with their agent code (username = agents.agent_id), so their team
-- and role in the worklist stay where cobranza.tasks reads them.

CREATE TABLE web_users (
    username        text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9_.-]{1,60}$'),
    role            text NOT NULL CHECK (role IN ('ops', 'agent', 'supervisor', 'auditor', 'admin')),
    password_hash   text NOT NULL,            -- argon2id, never the password
    active          boolean NOT NULL DEFAULT true,
    -- Bumped on disable or password change: every cookie signed with an older value stops working.
    session_version integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);

-- A token is shown once; only the SHA-256 of its secret part is kept.
CREATE TABLE api_tokens (
    token_id       text PRIMARY KEY CHECK (token_id ~ '^[a-f0-9]{12}$'),
    name           text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{1,60}$'),
    scopes         text[] NOT NULL CHECK (cardinality(scopes) > 0),
    secret_sha256  text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz
);

-- Every write made through the console or the API, attributed (append-only, like collection_log).
-- `actor` is 'user:<username>' or 'token:<name>'; the workflow's own rows carry the same actor in
-- their source / requested_by / agent fields.
CREATE TABLE web_actions (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    action   text NOT NULL,
    target   text,
    outcome  text NOT NULL CHECK (outcome IN ('ok', 'refused')),
    detail   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX web_actions_target_idx ON web_actions (target, id);

CREATE FUNCTION web_actions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'web_actions is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER web_actions_no_update_delete BEFORE UPDATE OR DELETE ON web_actions
    FOR EACH ROW EXECUTE FUNCTION web_actions_append_only();
