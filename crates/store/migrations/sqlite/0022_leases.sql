-- Leases on work that must run on one instance at a time (the settlement
-- loop: closing rounds, publishing roots, the outbox's nonces). The fence
-- grows with every change of holder; writes made under a lease check it,
-- so a holder that stalled past its lease cannot write after a takeover.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    fence      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
