-- The model as the client named it (`model` is now canonical: no tag means :latest), and the
-- thinking split of reasoning models (docs/meter.md). Nullable columns without defaults, so
-- TimescaleDB adds them to compressed chunks too; readers take NULL as "" / false / unknown.
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS model_requested TEXT;
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS thinking_tokens BIGINT;
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS thinking_ms DOUBLE PRECISION;
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS ttft_answer_ms DOUBLE PRECISION;
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS thinking_estimated BOOLEAN;
