-- Retention deletes ollama_metrics rows by time alone; the (metric_name, timestamp) index
-- cannot serve `timestamp < ?`, so each bounded delete batch would scan the table.
CREATE INDEX IF NOT EXISTS ollama_metrics_time ON ollama_metrics (timestamp);
