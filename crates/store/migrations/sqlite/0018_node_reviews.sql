-- Admins' reviews of flagged compute nodes (src/compute.rs): a slash of the
-- operator's stake, sent through the chain outbox, or the flag cleared.

CREATE TABLE compute_reviews (
    id          TEXT    PRIMARY KEY,
    node_id     TEXT    NOT NULL REFERENCES compute_nodes (id),
    reviewer_id TEXT    NOT NULL REFERENCES accounts (id),
    -- slashed | cleared
    decision    TEXT    NOT NULL,
    -- Base units of the reward token, decimal (256 bits); NULL when cleared.
    amount      TEXT,
    reason      TEXT    NOT NULL,
    -- The slash's transaction in the outbox.
    tx_id       TEXT    REFERENCES chain_txs (id),
    created_at  INTEGER NOT NULL
);

CREATE INDEX compute_reviews_node ON compute_reviews (node_id, created_at);
