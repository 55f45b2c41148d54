-- An admin can disable an account: it cannot sign in and its keys stop.
ALTER TABLE accounts ADD COLUMN disabled_at INTEGER;
