-- The compute network: nodes that operators run, and the AI tasks leased to
-- them (src/compute.rs).

CREATE TABLE compute_nodes (
    id              TEXT    PRIMARY KEY,
    account_id      TEXT    NOT NULL REFERENCES accounts (id),
    name            TEXT    NOT NULL,
    -- The model names it serves, a JSON array.
    models          TEXT    NOT NULL,
    capacity        INTEGER NOT NULL CHECK (capacity > 0),
    -- online | offline | maintenance
    status          TEXT    NOT NULL,
    -- Thousandths; 1000 until a check finds it at fault.
    reputation      INTEGER NOT NULL DEFAULT 1000,
    tasks_completed INTEGER NOT NULL DEFAULT 0,
    tasks_failed    INTEGER NOT NULL DEFAULT 0,
    -- Points its operator earned through it.
    earned          INTEGER NOT NULL DEFAULT 0,
    -- Verification: results checked against another node's, how many
    -- disagreed, and whether that many disagreements flag the node for an
    -- admin's slashing review.
    checks          INTEGER NOT NULL DEFAULT 0,
    mismatches      INTEGER NOT NULL DEFAULT 0,
    flagged         INTEGER NOT NULL DEFAULT 0,
    last_seen       INTEGER,
    created_at      INTEGER NOT NULL,
    -- Registering the same name again updates the node.
    UNIQUE (account_id, name)
);

CREATE TABLE compute_tasks (
    id              TEXT    PRIMARY KEY,
    -- The submitter; NULL for the platform's own tasks (AI requests the
    -- gateway routes to nodes, whose callers pay through their AI usage).
    account_id      TEXT    REFERENCES accounts (id),
    idempotency_key TEXT    NOT NULL,
    -- chat | embeddings
    kind            TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    -- The task's input, JSON (core::compute::TaskInput).
    input           TEXT    NOT NULL,
    -- pending | assigned | in_progress | completed | failed | cancelled
    status          TEXT    NOT NULL,
    node_id         TEXT    REFERENCES compute_nodes (id),
    -- The fencing token: one more at each assignment. Every transition is
    -- a compare-and-set on (status, lease).
    lease           INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    -- When the current lease was taken: heartbeats extend a lease, but no
    -- run outlasts compute.max_task_secs.
    leased_at       INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL CHECK (max_attempts > 0),
    progress        INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    -- The node's result, JSON (core::compute::TaskOutput), once completed.
    output          TEXT,
    error           TEXT,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    -- Points the node's operator was credited, once posted.
    reward          INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    completed_at    INTEGER,
    -- A check task: the task whose result it checks, run by a node of
    -- another operator than the one whose node gave it.
    verifies        TEXT    REFERENCES compute_tasks (id),
    exclude_operator TEXT,
    -- On a checked task and on its check: pending | agreed | disagreed |
    -- unchecked (no other node took the check in time).
    verdict         TEXT,
    UNIQUE (account_id, idempotency_key)
);
CREATE INDEX compute_tasks_status ON compute_tasks (status, created_at);
CREATE INDEX compute_tasks_node ON compute_tasks (node_id, status);
CREATE INDEX compute_tasks_completed ON compute_tasks (completed_at);
