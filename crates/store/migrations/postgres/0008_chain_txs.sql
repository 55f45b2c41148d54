-- The platform's own transactions (root publications, relayed claims): an
-- outbox with its own nonce sequence, so that after a crash every
-- transaction is sent again with the nonce it was given, never twice with
-- two nonces, and no nonce is left unused.

CREATE TABLE chain_txs (
    id              TEXT    PRIMARY KEY,
    -- A retried request finds its transaction instead of queueing another.
    idempotency_key TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    -- Lower-case hex address, and the call data as 0x-prefixed hex.
    to_address      TEXT    NOT NULL,
    calldata        TEXT    NOT NULL,
    -- Given once, when the transaction is first signed.
    nonce           BIGINT  UNIQUE,
    status          TEXT    NOT NULL DEFAULT 'queued'
                            CHECK (status IN ('queued', 'sent', 'mined', 'confirmed', 'failed')),
    -- Every hash sent for this nonce (fee bumps replace the transaction),
    -- newest last, as a JSON array.
    tx_hashes       TEXT    NOT NULL DEFAULT '[]',
    -- Wei, decimal: the fees of the latest signature.
    max_fee_per_gas TEXT,
    priority_fee    TEXT,
    gas_limit       BIGINT,
    sends           BIGINT  NOT NULL DEFAULT 0,
    last_sent_at    BIGINT,
    -- The hash that was mined and in which block; success is false for a revert.
    mined_hash      TEXT,
    mined_block     BIGINT,
    succeeded       BOOLEAN,
    error           TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX chain_txs_status ON chain_txs (status, created_at);

-- Contracts the platform deployed itself (the embedded local chain); with a
-- configured chain the addresses come from the configuration instead.
CREATE TABLE chain_contracts (
    chain_id       BIGINT  NOT NULL,
    name           TEXT    NOT NULL,
    address        TEXT    NOT NULL,
    deployed_block BIGINT  NOT NULL,
    PRIMARY KEY (chain_id, name)
);
