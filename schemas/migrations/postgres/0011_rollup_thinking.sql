-- Thinking sums in the rollups (the models table's thinking measures).
ALTER TABLE request_rollup_minute ADD COLUMN thinking_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_rollup_minute ADD COLUMN thinking_ms_sum DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE request_rollup_minute ADD COLUMN thinking_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_rollup_hour ADD COLUMN thinking_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_rollup_hour ADD COLUMN thinking_ms_sum DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE request_rollup_hour ADD COLUMN thinking_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_rollup_total ADD COLUMN thinking_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_rollup_total ADD COLUMN thinking_ms_sum DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE request_rollup_total ADD COLUMN thinking_count BIGINT NOT NULL DEFAULT 0;
