-- The points ledger: an append-only journal of signed whole-number entries,
-- and per account the balance the journal sums to. Posting an entry and
-- moving its balance happen in one transaction (see src/points.rs).

CREATE TABLE points_entries (
    -- Increases with every entry. Within one account it also follows commit
    -- order (posts to an account serialise on its balance row); across
    -- accounts a smaller id may commit later, so it is no global watermark.
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No cascade: an account with ledger history cannot be deleted.
    account_id      TEXT    NOT NULL REFERENCES accounts (id),
    amount          BIGINT  NOT NULL CHECK (amount <> 0),
    -- Validated in code, not by a CHECK: a new reason must not mean
    -- rebuilding the largest table (SQLite cannot alter a CHECK in place).
    reason          TEXT    NOT NULL,
    -- What the entry is about, e.g. a task or a round.
    reference       TEXT,
    -- Scoped to the account: a retry never changes the account, and one
    -- account's keys can neither collide with nor reveal another's.
    idempotency_key TEXT    NOT NULL,
    balance_after   BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    UNIQUE (account_id, idempotency_key)
);
-- History pages: one account's entries by id.
CREATE INDEX points_entries_account_id ON points_entries (account_id, id);

CREATE FUNCTION points_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'points_entries is append-only: post a correcting entry instead';
END;
$$;
CREATE TRIGGER points_entries_no_update BEFORE UPDATE OR DELETE ON points_entries
    FOR EACH ROW EXECUTE FUNCTION points_entries_append_only();
CREATE TRIGGER points_entries_no_truncate BEFORE TRUNCATE ON points_entries
    FOR EACH STATEMENT EXECUTE FUNCTION points_entries_append_only();

-- The running balance: the sum of the account's entries. The row is also
-- the lock that serialises posts to one account.
CREATE TABLE points_balances (
    account_id TEXT    PRIMARY KEY REFERENCES accounts (id),
    balance    BIGINT  NOT NULL CHECK (balance >= 0),
    updated_at BIGINT  NOT NULL
);
