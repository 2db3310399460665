-- ollama-local-serve schema for ClickHouse (server over HTTP, or chDB embedded). Version 1.
-- Applied at start by ollama_proxy.store.clickhouse and by deploy/clickhouse/initdb, inside
-- the target database. Placeholders rendered before use: {{ RETENTION_DAYS }},
-- {{ ON_CLUSTER }} (empty, or "ON CLUSTER name" when CLICKHOUSE_CLUSTER is set; the store
-- then also switches the engines to their Replicated forms and adds Distributed tables).
--
-- The brief's ReplacingMergeTree ORDER BY (timestamp, service_name, metric_type) collapsed
-- different metric names of the same second on merge. Here each sorting key identifies a row
-- (it ends with the row's own id), so only retries of the same row are deduplicated.

CREATE TABLE IF NOT EXISTS schema_version {{ ON_CLUSTER }}
(
    version UInt32,
    applied_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY version;

CREATE TABLE IF NOT EXISTS request_logs {{ ON_CLUSTER }}
(
    request_id String,
    timestamp DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    instance LowCardinality(String),
    method LowCardinality(String),
    endpoint LowCardinality(String),
    operation LowCardinality(String),
    api_flavor LowCardinality(String),
    inference Bool,
    model LowCardinality(String),
    client LowCardinality(String),
    client_name LowCardinality(String),
    user_agent LowCardinality(String),
    http_status UInt16,
    status LowCardinality(String),
    error_type LowCardinality(String),
    error_message String CODEC(ZSTD(3)),
    stream Bool,
    prompt_tokens Int64 CODEC(T64, ZSTD(1)),
    cached_tokens Int64 CODEC(T64, ZSTD(1)),
    completion_tokens Int64 CODEC(T64, ZSTD(1)),
    tokens_generated Int64 DEFAULT completion_tokens CODEC(T64, ZSTD(1)),
    estimated Bool,
    chunks Int64 CODEC(T64, ZSTD(1)),
    latency_ms Float64 CODEC(Gorilla, ZSTD(1)),
    ttfb_ms Nullable(Float64),
    ttft_ms Nullable(Float64),
    total_duration_ms Nullable(Float64),
    load_duration_ms Nullable(Float64),
    prompt_eval_duration_ms Nullable(Float64),
    eval_duration_ms Nullable(Float64),
    queue_wait_ms Nullable(Float64),
    decode_tps Nullable(Float64),
    prefill_tps Nullable(Float64),
    done_reason LowCardinality(String),
    bytes_in Int64 CODEC(T64, ZSTD(1)),
    bytes_out Int64 CODEC(T64, ZSTD(1)),
    trace_id String CODEC(ZSTD(1)),
    INDEX idx_request_id request_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_status status TYPE set(16) GRANULARITY 4,
    INDEX idx_client client TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY (timestamp, request_id)
TTL toDateTime(timestamp) + INTERVAL {{ RETENTION_DAYS }} DAY
-- A retried identical batch is dropped whole, so the rollup view never counts it twice.
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS ollama_metrics {{ ON_CLUSTER }}
(
    point_id String,
    timestamp DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    service_name LowCardinality(String),
    metric_type LowCardinality(String),
    metric_name LowCardinality(String),
    metric_value Float64 CODEC(Gorilla, ZSTD(1)),
    metadata String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY (metric_name, timestamp, point_id)
TTL toDateTime(timestamp) + INTERVAL {{ RETENTION_DAYS }} DAY;

-- Opt-in (CAPTURE_CONTENT): prompt and response text, redacted. Its TTL is set by the proxy
-- from CAPTURE_RETENTION_DAYS (ALTER TABLE ... MODIFY TTL), apart from the request logs'.
CREATE TABLE IF NOT EXISTS request_content {{ ON_CLUSTER }}
(
    request_id String,
    timestamp DateTime64(3, 'UTC'),
    instance LowCardinality(String),
    prompt String CODEC(ZSTD(3)),
    response String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY (timestamp, request_id);

-- Per-minute rollups: aggregate states merge correctly (never SummingMergeTree over averages
-- or quantiles). Read with sumMerge/countMerge/quantilesTDigestMerge.
CREATE TABLE IF NOT EXISTS request_rollup_1m {{ ON_CLUSTER }}
(
    minute DateTime('UTC'),
    instance LowCardinality(String),
    model LowCardinality(String),
    status LowCardinality(String),
    requests AggregateFunction(count),
    prompt_tokens AggregateFunction(sum, Int64),
    completion_tokens AggregateFunction(sum, Int64),
    eval_duration_ms AggregateFunction(sum, Float64),
    latency_q AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    ttft_q AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(minute)
ORDER BY (minute, instance, model, status)
TTL minute + INTERVAL {{ RETENTION_DAYS }} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS request_rollup_1m_mv {{ ON_CLUSTER }}
TO request_rollup_1m AS
SELECT
    toStartOfMinute(timestamp) AS minute,
    instance,
    model,
    status,
    countState() AS requests,
    sumState(prompt_tokens) AS prompt_tokens,
    sumState(completion_tokens) AS completion_tokens,
    sumState(ifNull(eval_duration_ms, 0)) AS eval_duration_ms,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(assumeNotNull(ttft_ms), isNotNull(ttft_ms)) AS ttft_q
FROM request_logs
GROUP BY minute, instance, model, status;

INSERT INTO schema_version (version) VALUES (1);
