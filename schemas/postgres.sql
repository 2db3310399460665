-- ollama-local-serve schema for PostgreSQL, with TimescaleDB when available. Version 1.
-- Applied at start by ollama_proxy.store.sql and by deploy/postgres/initdb (idempotent).
-- Placeholders rendered before use: {{ RETENTION_DAYS }}.
--
-- The brief's TimescaleDB tables put a primary key on request_id alone, which
-- create_hypertable rejects (every unique index must contain the time column). Here the keys
-- are (request_id, timestamp) and (point_id, timestamp): a retried batch carries the same
-- timestamp, so ON CONFLICT DO NOTHING still lands each record exactly once.

CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS request_logs (
    request_id TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    instance TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '',
    endpoint TEXT NOT NULL DEFAULT '',
    operation TEXT NOT NULL DEFAULT '',
    api_flavor TEXT NOT NULL DEFAULT '',
    inference BOOLEAN NOT NULL DEFAULT false,
    model TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    client_name TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    http_status INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'success',
    error_type TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    stream BOOLEAN NOT NULL DEFAULT false,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    tokens_generated BIGINT NOT NULL DEFAULT 0,
    estimated BOOLEAN NOT NULL DEFAULT false,
    chunks BIGINT NOT NULL DEFAULT 0,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    ttfb_ms DOUBLE PRECISION,
    ttft_ms DOUBLE PRECISION,
    total_duration_ms DOUBLE PRECISION,
    load_duration_ms DOUBLE PRECISION,
    prompt_eval_duration_ms DOUBLE PRECISION,
    eval_duration_ms DOUBLE PRECISION,
    queue_wait_ms DOUBLE PRECISION,
    decode_tps DOUBLE PRECISION,
    prefill_tps DOUBLE PRECISION,
    done_reason TEXT NOT NULL DEFAULT '',
    bytes_in BIGINT NOT NULL DEFAULT 0,
    bytes_out BIGINT NOT NULL DEFAULT 0,
    trace_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, timestamp)
);
CREATE INDEX IF NOT EXISTS request_logs_time_brin ON request_logs USING brin (timestamp);
CREATE INDEX IF NOT EXISTS request_logs_model_time ON request_logs (model, timestamp);
CREATE INDEX IF NOT EXISTS request_logs_status_time ON request_logs (status, timestamp);
CREATE INDEX IF NOT EXISTS request_logs_client_time ON request_logs (client, timestamp);
CREATE INDEX IF NOT EXISTS request_logs_id ON request_logs (request_id);
-- Added by the stats API work: history is one aggregate per time bucket; with the aggregated
-- columns in a btree on time each bucket is an index-only scan (24h over 10M records: 0.4 s
-- instead of 2 s over BRIN), and the newest-first log page reads the index in order.
CREATE INDEX IF NOT EXISTS request_logs_time_stats ON request_logs (timestamp)
    INCLUDE (model, instance, status, latency_ms, ttft_ms, prompt_tokens, completion_tokens,
             eval_duration_ms);

CREATE TABLE IF NOT EXISTS ollama_metrics (
    point_id TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    service_name TEXT NOT NULL DEFAULT '',
    metric_type TEXT NOT NULL DEFAULT 'gauge',
    metric_name TEXT NOT NULL,
    metric_value DOUBLE PRECISION NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (point_id, timestamp)
);
CREATE INDEX IF NOT EXISTS ollama_metrics_time_brin ON ollama_metrics USING brin (timestamp);
CREATE INDEX IF NOT EXISTS ollama_metrics_name_time ON ollama_metrics (metric_name, timestamp);

-- Opt-in (CAPTURE_CONTENT): prompt and response text, redacted, kept CAPTURE_RETENTION_DAYS
-- (the proxy deletes older rows; a separate retention from the request logs).
CREATE TABLE IF NOT EXISTS request_content (
    request_id TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    instance TEXT NOT NULL DEFAULT '',
    prompt TEXT NOT NULL DEFAULT '',
    response TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, timestamp)
);
CREATE INDEX IF NOT EXISTS request_content_time ON request_content (timestamp);

-- TimescaleDB: hypertables, compression and retention when the extension can be installed.
-- On plain PostgreSQL this block does nothing and the same queries run on the plain tables.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        PERFORM create_hypertable('request_logs', 'timestamp', if_not_exists => TRUE,
                                  migrate_data => TRUE, chunk_time_interval => INTERVAL '1 day');
        PERFORM create_hypertable('ollama_metrics', 'timestamp', if_not_exists => TRUE,
                                  migrate_data => TRUE, chunk_time_interval => INTERVAL '1 day');
        ALTER TABLE request_logs SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'model', timescaledb.compress_orderby = 'timestamp');
        PERFORM add_compression_policy('request_logs', INTERVAL '7 days', if_not_exists => TRUE);
        PERFORM add_retention_policy('request_logs', INTERVAL '{{ RETENTION_DAYS }} days',
                                     if_not_exists => TRUE);
        PERFORM add_retention_policy('ollama_metrics', INTERVAL '{{ RETENTION_DAYS }} days',
                                     if_not_exists => TRUE);
    END IF;
EXCEPTION WHEN others THEN
    -- Listed but not loadable (not in shared_preload_libraries): stay on plain tables.
    RAISE NOTICE 'timescaledb not used: %', SQLERRM;
END
$$;

INSERT INTO schema_version (version) VALUES (1) ON CONFLICT DO NOTHING;
