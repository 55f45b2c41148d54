-- Submitted work, its evaluation and the rounds' pools (src/submissions.rs,
-- src/evaluations.rs, src/competitions.rs).

CREATE TABLE submissions (
    id              TEXT    PRIMARY KEY,
    account_id      TEXT    NOT NULL REFERENCES accounts (id),
    -- The round that was open when the work arrived.
    round           INTEGER NOT NULL,
    -- The client's key: a retry returns the first submission.
    idempotency_key TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    -- Markdown as written, and the sanitised HTML pages show.
    body            TEXT    NOT NULL,
    body_html       TEXT    NOT NULL,
    -- SHA-256 of the normalised text: exact copies share it.
    fingerprint     TEXT    NOT NULL,
    client_ip       TEXT,
    -- evaluating | in_review | scored | duplicate | rejected | failed
    status          TEXT    NOT NULL,
    -- The next stage to run while evaluating; NULL once all ran.
    stage           TEXT,
    score           INTEGER CHECK (score BETWEEN 0 AND 100),
    -- The judge's per-criterion scores, JSON.
    breakdown       TEXT,
    reason          TEXT,
    duplicate_of    TEXT    REFERENCES submissions (id),
    similarity      REAL,
    -- Fraud flags, JSON, and what they leave of the payout.
    flags           TEXT    NOT NULL DEFAULT '[]',
    payout_percent  INTEGER NOT NULL DEFAULT 100 CHECK (payout_percent BETWEEN 0 AND 100),
    -- The round whose pool took this entry, set once when that pool is
    -- shared out, and the points it paid.
    paid_round      INTEGER,
    reward          INTEGER CHECK (reward >= 0),
    created_at      INTEGER NOT NULL,
    evaluated_at    INTEGER,
    -- Arrival order, total (set from the rowid by the trigger below): what
    -- "earlier work" means for copies, whatever the clock says.
    seq             INTEGER,
    UNIQUE (account_id, idempotency_key)
);
CREATE TRIGGER submissions_seq AFTER INSERT ON submissions BEGIN
    UPDATE submissions SET seq = new.rowid WHERE id = new.id;
END;
CREATE INDEX submissions_seq ON submissions (seq);
CREATE INDEX submissions_round ON submissions (round, created_at);
CREATE INDEX submissions_account ON submissions (account_id, created_at);
CREATE INDEX submissions_fingerprint ON submissions (fingerprint, created_at);
CREATE INDEX submissions_unpaid ON submissions (status, paid_round);
CREATE INDEX submissions_client_ip ON submissions (client_ip, created_at);

-- Embeddings for near-duplicate search: little-endian f32, unit length.
CREATE TABLE submission_vectors (
    submission_id TEXT PRIMARY KEY REFERENCES submissions (id),
    model         TEXT NOT NULL,
    vector        BLOB NOT NULL
);

-- One durable job per submission: workers lease it, run its next stage and
-- release it; a crashed worker's lease runs out and another resumes.
CREATE TABLE evaluation_jobs (
    submission_id TEXT    PRIMARY KEY REFERENCES submissions (id),
    -- queued | done | dead
    state         TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    run_after     INTEGER NOT NULL,
    lease_until   INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX evaluation_jobs_due ON evaluation_jobs (state, run_after);

-- Every stage run, with what went in and came out: any score can be
-- audited later.
CREATE TABLE evaluation_stages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id TEXT    NOT NULL REFERENCES submissions (id),
    stage         TEXT    NOT NULL,
    -- ok | flagged | error | failed
    outcome       TEXT    NOT NULL,
    provider      TEXT,
    model         TEXT,
    input         TEXT    NOT NULL,
    output        TEXT    NOT NULL,
    summary       TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL
);
CREATE INDEX evaluation_stages_submission ON evaluation_stages (submission_id, id);

-- A round's competition: the theme an admin set ahead, and the pool and
-- rule fixed when the pool is shared out.
CREATE TABLE competitions (
    round   INTEGER PRIMARY KEY,
    theme   TEXT,
    pool    INTEGER CHECK (pool >= 0),
    rule    TEXT,
    paid_at INTEGER
);

-- Full-text search over titles and bodies (bm25 ranking, Porter stemming).
CREATE VIRTUAL TABLE submissions_fts USING fts5 (
    submission_id UNINDEXED, title, body, tokenize = 'porter unicode61'
);
CREATE TRIGGER submissions_fts_insert AFTER INSERT ON submissions BEGIN
    INSERT INTO submissions_fts (submission_id, title, body)
    VALUES (new.id, new.title, new.body);
END;
