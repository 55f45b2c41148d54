-- Telegram users can sign in (the Mini App): accounts get a Telegram user
-- id, and an account with only that is valid.
ALTER TABLE accounts ADD COLUMN telegram_id BIGINT UNIQUE;
ALTER TABLE accounts DROP CONSTRAINT accounts_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_sign_in_method
    CHECK (email IS NOT NULL OR wallet_address IS NOT NULL OR telegram_id IS NOT NULL);

-- Launch data used to sign in, kept until it would be refused as stale
-- anyway: each is used once.
CREATE TABLE telegram_init_data (
    hash       TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
