-- GPU time per request: prompt_eval + eval duration, the load it caused, its energy share.
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS gpu_ms Nullable(Float64);
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS load_charged_ms Nullable(Float64);
ALTER TABLE request_logs {{ ON_CLUSTER }} ADD COLUMN IF NOT EXISTS energy_j Nullable(Float64);
