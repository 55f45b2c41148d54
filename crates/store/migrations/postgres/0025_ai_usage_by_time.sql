-- The admin console's spending per model and day reads every account's
-- usage over a span of days.
CREATE INDEX ai_usage_time ON ai_usage (created_at);
