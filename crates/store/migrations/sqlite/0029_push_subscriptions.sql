-- Where each member's browsers take Web Push messages (RFC 8030). An
-- endpoint is one browser profile's: subscribing it again moves it to
-- whoever is signed in there now.
CREATE TABLE push_subscriptions (
    endpoint   TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    p256dh     BLOB    NOT NULL,
    auth       BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_by_account ON push_subscriptions (account_id, created_at);
