-- A member's public handle (lower-case ASCII, checked by the platform);
-- unique, and set at most once per account at a time.
ALTER TABLE accounts ADD COLUMN handle TEXT;
CREATE UNIQUE INDEX accounts_handle ON accounts (handle);
