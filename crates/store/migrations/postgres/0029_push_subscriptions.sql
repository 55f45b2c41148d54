-- Where each member's browsers take Web Push messages (RFC 8030), each
-- for as long as the sign-in that subscribed it lasts (`session_id`, a
-- refresh-token family). An endpoint is one browser profile's.
CREATE TABLE push_subscriptions (
    endpoint   TEXT   PRIMARY KEY,
    account_id TEXT   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id TEXT   NOT NULL,
    p256dh     BYTEA  NOT NULL,
    auth       BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_by_account ON push_subscriptions (account_id, created_at);
