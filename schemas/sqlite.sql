-- ollama-local-serve schema for SQLite (the embedded default). Version 1.
-- Applied at start by ollama_proxy.store.sql (idempotent); WAL mode is set by the store.
-- Column names are RequestRecord field names; tokens_generated is the brief's name for
-- completion_tokens and holds the same value.

CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS request_logs (
    request_id TEXT PRIMARY KEY,
    timestamp DATETIME NOT NULL,
    instance TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '',
    endpoint TEXT NOT NULL DEFAULT '',
    operation TEXT NOT NULL DEFAULT '',
    api_flavor TEXT NOT NULL DEFAULT '',
    inference BOOLEAN NOT NULL DEFAULT 0,
    model TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    client_name TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    http_status INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'success',
    error_type TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    stream BOOLEAN NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    tokens_generated BIGINT NOT NULL DEFAULT 0,
    estimated BOOLEAN NOT NULL DEFAULT 0,
    chunks BIGINT NOT NULL DEFAULT 0,
    latency_ms FLOAT NOT NULL DEFAULT 0,
    ttfb_ms FLOAT,
    ttft_ms FLOAT,
    total_duration_ms FLOAT,
    load_duration_ms FLOAT,
    prompt_eval_duration_ms FLOAT,
    eval_duration_ms FLOAT,
    queue_wait_ms FLOAT,
    decode_tps FLOAT,
    prefill_tps FLOAT,
    done_reason TEXT NOT NULL DEFAULT '',
    bytes_in BIGINT NOT NULL DEFAULT 0,
    bytes_out BIGINT NOT NULL DEFAULT 0,
    trace_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS request_logs_time ON request_logs (timestamp);
CREATE INDEX IF NOT EXISTS request_logs_model_time ON request_logs (model, timestamp);
CREATE INDEX IF NOT EXISTS request_logs_status_time ON request_logs (status, timestamp);
CREATE INDEX IF NOT EXISTS request_logs_client_time ON request_logs (client, timestamp);

CREATE TABLE IF NOT EXISTS ollama_metrics (
    point_id TEXT PRIMARY KEY,
    timestamp DATETIME NOT NULL,
    service_name TEXT NOT NULL DEFAULT '',
    metric_type TEXT NOT NULL DEFAULT 'gauge',
    metric_name TEXT NOT NULL,
    metric_value FLOAT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS ollama_metrics_name_time ON ollama_metrics (metric_name, timestamp);

-- Opt-in (CAPTURE_CONTENT): prompt and response text, redacted, kept CAPTURE_RETENTION_DAYS.
CREATE TABLE IF NOT EXISTS request_content (
    request_id TEXT PRIMARY KEY,
    timestamp DATETIME NOT NULL,
    instance TEXT NOT NULL DEFAULT '',
    prompt TEXT NOT NULL DEFAULT '',
    response TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS request_content_time ON request_content (timestamp);

INSERT OR IGNORE INTO schema_version (version, applied_at) VALUES (1, CURRENT_TIMESTAMP);
