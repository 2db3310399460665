-- Rollups of request_logs (store/rollups.py): per minute, per hour and all-time (bucket 0),
-- one row per (bucket, model, instance, client, node), maintained in the transaction that
-- inserts the raw rows. client is client_name when sent, else the address (the stats API's
-- client key). Sketches: DDSketch bins, little-endian (int16 key, uint32 count) pairs
-- (store/sketch.py). A summed record field added later gets its columns in a later migration.
-- bucket: start of the minute / hour, Unix seconds.

CREATE TABLE IF NOT EXISTS request_rollup_minute (
    bucket INTEGER NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    instance TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    node TEXT NOT NULL DEFAULT '',
    requests BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0,
    eval_tokens BIGINT NOT NULL DEFAULT 0,
    eval_ms FLOAT NOT NULL DEFAULT 0,
    latency_sum FLOAT NOT NULL DEFAULT 0,
    load_count BIGINT NOT NULL DEFAULT 0,
    load_ms_sum FLOAT NOT NULL DEFAULT 0,
    gpu_ms_sum FLOAT NOT NULL DEFAULT 0,
    load_charged_sum FLOAT NOT NULL DEFAULT 0,
    energy_j_sum FLOAT NOT NULL DEFAULT 0,
    energy_n BIGINT NOT NULL DEFAULT 0,
    energy_tokens BIGINT NOT NULL DEFAULT 0,
    queue_wait_sum FLOAT NOT NULL DEFAULT 0,
    queue_wait_n BIGINT NOT NULL DEFAULT 0,
    last_ts DATETIME,
    lat_sketch BLOB,
    ttft_sketch BLOB,
    PRIMARY KEY (bucket, model, instance, client, node)
);
CREATE TABLE IF NOT EXISTS request_rollup_hour (
    bucket INTEGER NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    instance TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    node TEXT NOT NULL DEFAULT '',
    requests BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0,
    eval_tokens BIGINT NOT NULL DEFAULT 0,
    eval_ms FLOAT NOT NULL DEFAULT 0,
    latency_sum FLOAT NOT NULL DEFAULT 0,
    load_count BIGINT NOT NULL DEFAULT 0,
    load_ms_sum FLOAT NOT NULL DEFAULT 0,
    gpu_ms_sum FLOAT NOT NULL DEFAULT 0,
    load_charged_sum FLOAT NOT NULL DEFAULT 0,
    energy_j_sum FLOAT NOT NULL DEFAULT 0,
    energy_n BIGINT NOT NULL DEFAULT 0,
    energy_tokens BIGINT NOT NULL DEFAULT 0,
    queue_wait_sum FLOAT NOT NULL DEFAULT 0,
    queue_wait_n BIGINT NOT NULL DEFAULT 0,
    last_ts DATETIME,
    lat_sketch BLOB,
    ttft_sketch BLOB,
    PRIMARY KEY (bucket, model, instance, client, node)
);
CREATE TABLE IF NOT EXISTS request_rollup_total (
    bucket INTEGER NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    instance TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    node TEXT NOT NULL DEFAULT '',
    requests BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0,
    eval_tokens BIGINT NOT NULL DEFAULT 0,
    eval_ms FLOAT NOT NULL DEFAULT 0,
    latency_sum FLOAT NOT NULL DEFAULT 0,
    load_count BIGINT NOT NULL DEFAULT 0,
    load_ms_sum FLOAT NOT NULL DEFAULT 0,
    gpu_ms_sum FLOAT NOT NULL DEFAULT 0,
    load_charged_sum FLOAT NOT NULL DEFAULT 0,
    energy_j_sum FLOAT NOT NULL DEFAULT 0,
    energy_n BIGINT NOT NULL DEFAULT 0,
    energy_tokens BIGINT NOT NULL DEFAULT 0,
    queue_wait_sum FLOAT NOT NULL DEFAULT 0,
    queue_wait_n BIGINT NOT NULL DEFAULT 0,
    last_ts DATETIME,
    lat_sketch BLOB,
    ttft_sketch BLOB,
    PRIMARY KEY (bucket, model, instance, client, node)
);

-- Raw rows present before this migration, [next_ts, until_ts), are rolled up in batches by
-- the running proxy (rollups.backfill_step); until then the stats API reads raw rows.
CREATE TABLE IF NOT EXISTS rollup_backfill (
    id INTEGER PRIMARY KEY,
    next_ts DATETIME,
    until_ts DATETIME
);
INSERT OR IGNORE INTO rollup_backfill (id, next_ts, until_ts)
SELECT 1, min(timestamp),
       strftime('%Y-%m-%d %H:%M:%f', max(timestamp), '+0.001 seconds') || '000'
FROM request_logs;
