-- The points ledger: an append-only journal of signed whole-number entries,
-- and per account the balance the journal sums to. Posting an entry and
-- moving its balance happen in one transaction (see src/points.rs).

CREATE TABLE points_entries (
    -- AUTOINCREMENT: an id is never reused, so cursors and watermarks over
    -- ids stay valid.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- No cascade: an account with ledger history cannot be deleted.
    account_id      TEXT    NOT NULL REFERENCES accounts (id),
    amount          INTEGER NOT NULL CHECK (amount <> 0),
    -- Validated in code, not by a CHECK: a new reason must not mean
    -- rebuilding the largest table (SQLite cannot alter a CHECK in place).
    reason          TEXT    NOT NULL,
    -- What the entry is about, e.g. a task or a round.
    reference       TEXT,
    -- Scoped to the account: a retry never changes the account, and one
    -- account's keys can neither collide with nor reveal another's.
    idempotency_key TEXT    NOT NULL,
    balance_after   INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (account_id, idempotency_key)
);
-- History pages: one account's entries by id.
CREATE INDEX points_entries_account_id ON points_entries (account_id, id);

CREATE TRIGGER points_entries_no_update BEFORE UPDATE ON points_entries
BEGIN
    SELECT RAISE(ABORT, 'points_entries is append-only: post a correcting entry instead');
END;
CREATE TRIGGER points_entries_no_delete BEFORE DELETE ON points_entries
BEGIN
    SELECT RAISE(ABORT, 'points_entries is append-only: post a correcting entry instead');
END;

-- The running balance: the sum of the account's entries.
CREATE TABLE points_balances (
    account_id TEXT    PRIMARY KEY REFERENCES accounts (id),
    balance    INTEGER NOT NULL CHECK (balance >= 0),
    updated_at INTEGER NOT NULL
);
