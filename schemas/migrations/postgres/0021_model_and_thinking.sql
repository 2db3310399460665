-- The model as the client named it (`model` is now canonical: no tag means :latest), and the
-- thinking split of reasoning models (docs/meter.md).
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS model_requested TEXT NOT NULL DEFAULT '';
UPDATE request_logs SET model_requested = model WHERE model_requested = '' AND model <> '';
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS thinking_tokens BIGINT;
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS thinking_ms DOUBLE PRECISION;
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS ttft_answer_ms DOUBLE PRECISION;
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS thinking_estimated BOOLEAN NOT NULL DEFAULT false;
