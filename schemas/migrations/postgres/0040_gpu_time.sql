-- GPU time per request: prompt_eval + eval duration, the load it caused, its energy share.
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS gpu_ms DOUBLE PRECISION;
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS load_charged_ms DOUBLE PRECISION;
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS energy_j DOUBLE PRECISION;
