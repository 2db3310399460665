-- Retention deletes ollama_metrics rows oldest first in bounded batches
-- (ORDER BY timestamp LIMIT n): a btree serves that in order, the BRIN index cannot.
CREATE INDEX IF NOT EXISTS ollama_metrics_time ON ollama_metrics (timestamp);
