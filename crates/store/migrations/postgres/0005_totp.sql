-- TOTP second factor. A secret without totp_enabled_at is an enrolment in
-- progress; totp_last_step stops a code from being used twice.
ALTER TABLE accounts ADD COLUMN totp_secret BYTEA;
ALTER TABLE accounts ADD COLUMN totp_enabled_at BIGINT;
ALTER TABLE accounts ADD COLUMN totp_last_step BIGINT;
