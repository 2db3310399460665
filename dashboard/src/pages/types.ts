import type { Percentiles } from "../utils/series";

export interface Current {
  tokens_total: number;
  tokens_per_sec: number | null;
  uptime_hours: number | null;
  error_count: number;
  requests_total: number;
  requests_last_hour: number;
  error_rate: number | null;
  in_flight: number | null;
  latency_ms: Percentiles;
  ttft_ms: Percentiles;
  loaded_models: { name: string; size_bytes: number; size_vram_bytes: number; expires_at: string | null }[];
}

export interface ModelRow {
  model_name: string;
  requests_count: number;
  avg_latency: number | null;
  p95_latency: number | null;
  tokens: number;
  tokens_per_sec: number | null;
  ttft: number | null;
  load_count: number;
  avg_load_ms: number | null;
  error_rate: number | null;
  last_used: string | null;
  loaded: boolean;
  thinking_tokens: number;
  avg_thinking_ms: number | null;
}

export interface ClientRow {
  client: string;
  requests_count: number;
  errors: number;
  error_rate: number | null;
  avg_latency: number | null;
  p95_latency: number | null;
  tokens: number;
  models: string[];
  last_seen: string | null;
  gpu_s: number;
  load_charged_s: number;
  gpu_share: number | null;
  energy_j: number | null;
  quota?: {
    gpu_s_used: number;
    gpu_s_limit: number | null;
    tokens_used: number;
    tokens_limit: number | null;
    exceeded: boolean;
    resets_at: string;
  } | null;
}

export interface LogRow {
  id: string;
  timestamp: string;
  model: string;
  client: string;
  client_name: string;
  endpoint: string;
  tokens: number | null; // null: no model ran or nothing was reported (usage_source "none")
  latency_ms: number;
  ttft_ms: number | null;
  ttft_answer_ms?: number | null;
  thinking_ms?: number | null;
  thinking_tokens?: number | null;
  usage_source?: "reported" | "estimated" | "none";
  status: string;
  http_status: number;
  [key: string]: unknown;
}

export interface NodeRow {
  node: string;
  url: string | null;
  healthy: boolean | null; // null: a node this proxy does not route to (seen in the store only)
  version: string | null;
  in_flight: number | null;
  slots: number | null;
  vram_used_bytes: number | null;
  vram_capacity_bytes: number | null;
  ejections: number | null;
  loaded_models: { name: string; size_vram_bytes: number }[];
  requests_count: number;
  errors: number;
  error_rate: number | null;
  avg_latency: number | null;
  p95_latency: number | null;
  tokens: number;
  tokens_per_sec: number | null;
  avg_queue_wait_ms: number | null;
  cold_loads: number;
  last_seen: string | null;
}
