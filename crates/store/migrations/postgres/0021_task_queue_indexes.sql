-- The queries the dispatcher and the reaper run every pass, each read in
-- order off an index instead of scanning and sorting a growing table.
--
-- The pending queue is read oldest first, ties (a second's worth of
-- submissions) broken by id: without the id in the index every pass read
-- and sorted each of the second's tasks, and under a backlog of thousands
-- the dispatcher fell behind the nodes.
DROP INDEX compute_tasks_status;
CREATE INDEX compute_tasks_status ON compute_tasks (status, created_at, id);

-- Completed tasks not paid yet, and checks not judged yet: a few at a
-- time, among every task ever completed; and checks no node has taken,
-- among every pending task. The status leads each key so that SQLite,
-- without statistics, prefers these to the one above.
CREATE INDEX compute_tasks_unrewarded ON compute_tasks (status, completed_at)
    WHERE reward IS NULL;
CREATE INDEX compute_tasks_unjudged ON compute_tasks (status, completed_at)
    WHERE verifies IS NOT NULL AND verdict IS NULL;
CREATE INDEX compute_tasks_waiting_checks ON compute_tasks (status, created_at)
    WHERE verifies IS NOT NULL;
