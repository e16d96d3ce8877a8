-- Human tasks for collection agents (gestores): agents and teams, the worklist, its events, notes,
-- and the contact points agents found invalid. Task rows are written by the workflow's task step
-- activity in the same transaction as the step's collection_log row; agents only claim, release
-- and (supervisors) reassign them.

CREATE TABLE agents (
    agent_id     text PRIMARY KEY CHECK (agent_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    full_name    text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    team         text NOT NULL CHECK (team ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    role         text NOT NULL DEFAULT 'agent' CHECK (role IN ('agent', 'supervisor')),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_team_idx ON agents (team);

-- status: open (offered to the team) -> claimed (one agent) -> completed | expired | closed;
-- released or reassigned on SLA expiry goes back to open.
CREATE TABLE agent_tasks (
    task_id          text PRIMARY KEY,
    workflow_id      text NOT NULL,
    collection_id    text NOT NULL,
    seq              integer NOT NULL,          -- the collection_log row that opened it
    account_id       text NOT NULL REFERENCES accounts (account_id),
    campaign_id      text,
    kind             text NOT NULL,
    team             text NOT NULL,
    step_id          text,
    origin           text NOT NULL,
    parent_task_id   text,
    priority         text NOT NULL,
    score            integer NOT NULL,
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'claimed', 'completed', 'expired', 'closed')),
    assigned_to      text REFERENCES agents (agent_id),
    claimed_at       timestamptz,
    last_assigned_to text,
    not_before       timestamptz,               -- a call back is not offered before this
    due_at           timestamptz NOT NULL,      -- SLA deadline
    reassignments    integer NOT NULL DEFAULT 0,
    outcome          text,
    completed_by     text,
    completed_at     timestamptz,
    note_id          bigint,
    close_reason     text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workflow_id, collection_id, seq),
    CHECK ((status = 'claimed') = (assigned_to IS NOT NULL))
);
CREATE INDEX agent_tasks_worklist_idx ON agent_tasks (team, score DESC, due_at)
    WHERE status IN ('open', 'claimed');
CREATE INDEX agent_tasks_assigned_idx ON agent_tasks (assigned_to) WHERE status = 'claimed';
CREATE INDEX agent_tasks_account_idx ON agent_tasks (account_id);
CREATE INDEX agent_tasks_campaign_idx ON agent_tasks (campaign_id);

-- Who claimed, released and reassigned what, and when (the workflow's own actions on a task are in
-- collection_log).
CREATE TABLE agent_task_events (
    id          bigserial PRIMARY KEY,
    task_id     text NOT NULL REFERENCES agent_tasks (task_id),
    event       text NOT NULL CHECK (event IN ('claimed', 'released', 'reassigned')),
    agent_id    text,                            -- who holds the task after the event
    by_agent    text NOT NULL,                   -- who did it
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_task_events_task_idx ON agent_task_events (task_id, id);

-- Agents' free-text notes may hold personal data: they stay here; workflows carry only note_id.
CREATE TABLE task_notes (
    note_id     bigserial PRIMARY KEY,
    task_id     text NOT NULL REFERENCES agent_tasks (task_id),
    agent_id    text NOT NULL,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_notes_task_idx ON task_notes (task_id);

-- A contact point (a debtors column value) an agent found invalid, e.g. a wrong number. Keyed by
-- its value: a corrected phone in a later portfolio load is usable again. PII, like debtors.
CREATE TABLE contact_points_invalid (
    debtor_id   uuid NOT NULL REFERENCES debtors (debtor_id),
    point       text NOT NULL CHECK (point IN ('phone', 'email', 'address')),
    value       text NOT NULL,
    reason      text NOT NULL,
    task_id     text,
    marked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (debtor_id, point, value)
);
