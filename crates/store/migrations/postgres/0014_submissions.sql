-- Submitted work, its evaluation and the rounds' pools (src/submissions.rs,
-- src/evaluations.rs, src/competitions.rs). Comments: see the SQLite twin.

CREATE TABLE submissions (
    id              TEXT    PRIMARY KEY,
    account_id      TEXT    NOT NULL REFERENCES accounts (id),
    round           BIGINT  NOT NULL,
    idempotency_key TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    body_html       TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    client_ip       TEXT,
    status          TEXT    NOT NULL,
    stage           TEXT,
    score           BIGINT  CHECK (score BETWEEN 0 AND 100),
    breakdown       TEXT,
    reason          TEXT,
    duplicate_of    TEXT    REFERENCES submissions (id),
    similarity      DOUBLE PRECISION,
    flags           TEXT    NOT NULL DEFAULT '[]',
    payout_percent  BIGINT  NOT NULL DEFAULT 100 CHECK (payout_percent BETWEEN 0 AND 100),
    paid_round      BIGINT,
    reward          BIGINT  CHECK (reward >= 0),
    created_at      BIGINT  NOT NULL,
    evaluated_at    BIGINT,
    seq             BIGSERIAL,
    -- Full-text search: English stemming, a GIN index.
    search          TSVECTOR GENERATED ALWAYS AS
                        (to_tsvector('english', title || ' ' || body)) STORED,
    UNIQUE (account_id, idempotency_key)
);
CREATE INDEX submissions_round ON submissions (round, created_at);
CREATE INDEX submissions_account ON submissions (account_id, created_at);
CREATE INDEX submissions_fingerprint ON submissions (fingerprint, created_at);
CREATE INDEX submissions_unpaid ON submissions (status, paid_round);
CREATE INDEX submissions_client_ip ON submissions (client_ip, created_at);
CREATE INDEX submissions_seq ON submissions (seq);
CREATE INDEX submissions_search ON submissions USING GIN (search);

CREATE TABLE submission_vectors (
    submission_id TEXT  PRIMARY KEY REFERENCES submissions (id),
    model         TEXT  NOT NULL,
    vector        BYTEA NOT NULL
);

CREATE TABLE evaluation_jobs (
    submission_id TEXT   PRIMARY KEY REFERENCES submissions (id),
    state         TEXT   NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    run_after     BIGINT NOT NULL,
    lease_until   BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX evaluation_jobs_due ON evaluation_jobs (state, run_after);

CREATE TABLE evaluation_stages (
    id            BIGSERIAL PRIMARY KEY,
    submission_id TEXT   NOT NULL REFERENCES submissions (id),
    stage         TEXT   NOT NULL,
    outcome       TEXT   NOT NULL,
    provider      TEXT,
    model         TEXT,
    input         TEXT   NOT NULL,
    output        TEXT   NOT NULL,
    summary       TEXT   NOT NULL,
    started_at_ms BIGINT NOT NULL,
    duration_ms   BIGINT NOT NULL
);
CREATE INDEX evaluation_stages_submission ON evaluation_stages (submission_id, id);

CREATE TABLE competitions (
    round   BIGINT PRIMARY KEY,
    theme   TEXT,
    pool    BIGINT CHECK (pool >= 0),
    rule    TEXT,
    paid_at BIGINT
);
