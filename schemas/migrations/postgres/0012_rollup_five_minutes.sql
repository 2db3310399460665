-- Five-minute rollups (store/rollups.py): the grain of the 24-hour charts (288 points of
-- 5 minutes), read instead of five times as many minute rows. Same columns and key as the
-- minute and hour tables; maintained with them at ingest and by the backfill.
-- A database whose minute rollups are filled already gets its five-minute rows from them:
-- the minute sketches of a row concatenated (a sketch may repeat a key: store/sketch.py).

CREATE TABLE IF NOT EXISTS request_rollup_5m (
    bucket BIGINT NOT NULL,
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
    eval_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    load_count BIGINT NOT NULL DEFAULT 0,
    load_ms_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    gpu_ms_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    load_charged_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    energy_j_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    energy_n BIGINT NOT NULL DEFAULT 0,
    energy_tokens BIGINT NOT NULL DEFAULT 0,
    queue_wait_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    queue_wait_n BIGINT NOT NULL DEFAULT 0,
    thinking_tokens BIGINT NOT NULL DEFAULT 0,
    thinking_ms_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    thinking_count BIGINT NOT NULL DEFAULT 0,
    last_ts TIMESTAMPTZ,
    lat_sketch BYTEA,
    ttft_sketch BYTEA,
    PRIMARY KEY (bucket, model, instance, client, node)
);
INSERT INTO request_rollup_5m (bucket, model, instance, client, node, requests, errors, prompt_tokens, completion_tokens, cached_tokens, eval_tokens, eval_ms, latency_sum, load_count, load_ms_sum, gpu_ms_sum, load_charged_sum, energy_j_sum, energy_n, energy_tokens, queue_wait_sum, queue_wait_n, thinking_tokens, thinking_ms_sum, thinking_count, last_ts, lat_sketch, ttft_sketch)
SELECT (bucket / 300) * 300,
       model,
       instance,
       client,
       node,
       sum(requests),
       sum(errors),
       sum(prompt_tokens),
       sum(completion_tokens),
       sum(cached_tokens),
       sum(eval_tokens),
       sum(eval_ms),
       sum(latency_sum),
       sum(load_count),
       sum(load_ms_sum),
       sum(gpu_ms_sum),
       sum(load_charged_sum),
       sum(energy_j_sum),
       sum(energy_n),
       sum(energy_tokens),
       sum(queue_wait_sum),
       sum(queue_wait_n),
       sum(thinking_tokens),
       sum(thinking_ms_sum),
       sum(thinking_count),
       max(last_ts),
       string_agg(lat_sketch, ''::bytea),
       string_agg(ttft_sketch, ''::bytea)
FROM request_rollup_minute
GROUP BY 1, model, instance, client, node
ON CONFLICT DO NOTHING;
