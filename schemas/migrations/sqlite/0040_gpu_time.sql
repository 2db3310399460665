-- GPU time per request: prompt_eval + eval duration, the load it caused, its energy share.
ALTER TABLE request_logs ADD COLUMN gpu_ms FLOAT;
ALTER TABLE request_logs ADD COLUMN load_charged_ms FLOAT;
ALTER TABLE request_logs ADD COLUMN energy_j FLOAT;
