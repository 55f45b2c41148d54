-- A submitter's open tasks are counted on every submission (the cap on
-- open tasks): without this index the count read every task the account
-- ever submitted.

CREATE INDEX compute_tasks_account ON compute_tasks (account_id, status);
