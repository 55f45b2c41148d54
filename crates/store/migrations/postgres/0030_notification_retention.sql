-- Notifications are kept for a while (crates/platform's notifications
-- RETENTION_SECS), then forgotten oldest first: read off this index.
CREATE INDEX notifications_by_time ON notifications (created_at);
