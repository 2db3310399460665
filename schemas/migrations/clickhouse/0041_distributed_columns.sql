-- On a cluster, the columns of 0020, 0021, 0030 and 0040 also on the `*_all` Distributed
-- tables: the runner now repeats every column change of request_logs on request_logs_all, but
-- those versions ran before it did. On one server (no `*_all`) every statement finds its
-- column and does nothing.
ALTER TABLE request_logs {{ ON_CLUSTER }}
    ADD COLUMN IF NOT EXISTS usage_source LowCardinality(String)
    DEFAULT multiIf(NOT inference, 'none', estimated, 'estimated', 'reported');
ALTER TABLE request_logs {{ ON_CLUSTER }}
    ADD COLUMN IF NOT EXISTS model_requested String DEFAULT model CODEC(ZSTD(1));
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS thinking_tokens Nullable(Int64);
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS thinking_ms Nullable(Float64);
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS ttft_answer_ms Nullable(Float64);
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS thinking_estimated Bool DEFAULT false;
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS node LowCardinality(String) DEFAULT '';
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS route_reason LowCardinality(String) DEFAULT '';
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS attempts Int64 DEFAULT 1;
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS gpu_ms Nullable(Float64);
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS load_charged_ms Nullable(Float64);
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS energy_j Nullable(Float64);
