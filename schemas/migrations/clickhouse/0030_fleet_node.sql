-- The fleet: which Ollama node answered, why it was chosen, how many nodes were tried.
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS node LowCardinality(String) DEFAULT '';
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS route_reason LowCardinality(String) DEFAULT '';
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS attempts Int64 DEFAULT 1;
