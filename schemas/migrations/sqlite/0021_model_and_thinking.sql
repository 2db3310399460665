-- The model as the client named it (`model` is now canonical: no tag means :latest), and the
-- thinking split of reasoning models (docs/meter.md).
ALTER TABLE request_logs ADD COLUMN model_requested TEXT NOT NULL DEFAULT '';
UPDATE request_logs SET model_requested = model;
ALTER TABLE request_logs ADD COLUMN thinking_tokens BIGINT;
ALTER TABLE request_logs ADD COLUMN thinking_ms FLOAT;
ALTER TABLE request_logs ADD COLUMN ttft_answer_ms FLOAT;
ALTER TABLE request_logs ADD COLUMN thinking_estimated BOOLEAN NOT NULL DEFAULT 0;
