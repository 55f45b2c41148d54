-- The audit log (docs/decisions/0031): every admin action and every value
-- movement not made by the platform's own rules, append-only and
-- hash-chained. Each entry's hash covers its fields and the previous
-- entry's hash; prev_hash is unique, so two instances appending at once
-- cannot both extend the same entry (one retries on the new head).
-- reference, when set, names what the entry is about once and for all (a
-- ledger entry): recording it again finds the entry already there.
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    state_before TEXT,
    state_after  TEXT,
    prev_hash    TEXT NOT NULL UNIQUE,
    hash         TEXT NOT NULL,
    reference    TEXT UNIQUE
);
