-- Settlement rounds (docs/decisions/0007): at a round's close each bound
-- account's points balance moves into its wallet's cumulative total, and the
-- Merkle tree over every wallet's total is stored before it is published.

CREATE TABLE rounds (
    -- 1, 2, 3, ... with no gaps.
    number        BIGINT  PRIMARY KEY,
    starts_at     BIGINT  NOT NULL,
    ends_at       BIGINT  NOT NULL CHECK (ends_at > starts_at),
    status        TEXT    NOT NULL DEFAULT 'open'
                          CHECK (status IN ('open', 'closing', 'published', 'confirmed')),
    -- Set together when the tree is computed (status closing).
    root          TEXT,
    leaf_count    BIGINT,
    -- Sum of the leaves, token base units, decimal (may exceed 64 bits).
    total_amount  TEXT,
    closed_at     BIGINT,
    -- The setRoot transaction (chain_txs.id) and when it was mined / confirmed.
    publish_tx    TEXT,
    published_at  BIGINT,
    confirmed_at  BIGINT
);
-- At most one round is open.
CREATE UNIQUE INDEX rounds_one_open ON rounds (status) WHERE status = 'open';

-- Points moved out of an account's balance into its wallet's total in a round.
CREATE TABLE round_settlements (
    round      BIGINT  NOT NULL REFERENCES rounds (number),
    account_id TEXT    NOT NULL REFERENCES accounts (id),
    -- Lower-case hex: the wallet bound when the round closed.
    wallet     TEXT    NOT NULL,
    points     BIGINT  NOT NULL CHECK (points > 0),
    PRIMARY KEY (round, account_id)
);
CREATE INDEX round_settlements_wallet ON round_settlements (wallet);

-- Each wallet's cumulative amount in a round's tree, with its proof.
CREATE TABLE round_leaves (
    round   BIGINT  NOT NULL REFERENCES rounds (number),
    wallet  TEXT    NOT NULL,
    -- Cumulative token base units, decimal.
    amount  TEXT    NOT NULL,
    -- JSON array of 0x-prefixed 32-byte hashes.
    proof   TEXT    NOT NULL,
    PRIMARY KEY (round, wallet)
);
