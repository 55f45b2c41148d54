-- Which compute node answered a gateway request routed to the network:
-- the task carries the gateway's request id, and the request's usage row
-- names the node that completed it (src/compute.rs, src/ai_usage.rs).

ALTER TABLE compute_tasks ADD COLUMN request_id TEXT;
CREATE INDEX compute_tasks_request ON compute_tasks (request_id);

ALTER TABLE ai_usage ADD COLUMN served_by TEXT;
