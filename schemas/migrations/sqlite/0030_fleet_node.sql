-- The fleet: which Ollama node answered, why it was chosen, how many nodes were tried.
ALTER TABLE request_logs ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE request_logs ADD COLUMN route_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE request_logs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS request_logs_node_time ON request_logs (node, timestamp);
