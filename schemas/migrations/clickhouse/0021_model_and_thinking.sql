-- The model as the client named it (`model` is now canonical: no tag means :latest), and the
-- thinking split of reasoning models (docs/meter.md). New columns only: the rollup view names
-- its columns, so it is untouched.
ALTER TABLE request_logs {{ ON_CLUSTER }}
    ADD COLUMN IF NOT EXISTS model_requested String DEFAULT model CODEC(ZSTD(1));
ALTER TABLE request_logs {{ ON_CLUSTER }}
    ADD COLUMN IF NOT EXISTS thinking_tokens Nullable(Int64);
ALTER TABLE request_logs {{ ON_CLUSTER }}
    ADD COLUMN IF NOT EXISTS thinking_ms Nullable(Float64);
ALTER TABLE request_logs {{ ON_CLUSTER }}
    ADD COLUMN IF NOT EXISTS ttft_answer_ms Nullable(Float64);
ALTER TABLE request_logs {{ ON_CLUSTER }}
    ADD COLUMN IF NOT EXISTS thinking_estimated Bool DEFAULT false;
