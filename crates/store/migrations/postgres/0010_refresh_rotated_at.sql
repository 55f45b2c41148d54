-- When a refresh token was itself presented and rotated. used_at also covers
-- a token superseded by another token of its family (see src/sessions.rs);
-- only a rotated token may be presented again within the grace window, as two
-- tabs refreshing at once do, without it counting as reuse.
ALTER TABLE refresh_tokens ADD COLUMN rotated_at BIGINT;
