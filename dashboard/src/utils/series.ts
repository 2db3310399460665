// Pure transforms from API answers to chart rows. Nothing is invented: a missing percentile
// stays null (the chart shows a gap), empty buckets keep the zeros the API returned.
import { clock } from "./formatters";

export interface Percentiles { p50: number | null; p95: number | null; p99: number | null }
export interface HistoryPoint {
  timestamp: string;
  requests: number;
  errors: number;
  tokens_total: number;
  throughput: number | null;
  tokens_per_sec?: number | null;
  latency_ms: Percentiles;
  ttft_ms: Percentiles;
}
export interface ChartRow { [key: string]: string | number | null }

export function historyRows(points: HistoryPoint[]): ChartRow[] {
  return points.map((p) => ({
    time: clock(p.timestamp),
    requests: p.requests,
    errors: p.errors,
    tokens: p.tokens_total,
    throughput: p.throughput,
    p50: p.latency_ms?.p50 ?? null,
    p95: p.latency_ms?.p95 ?? null,
    p99: p.latency_ms?.p99 ?? null,
    ttft_p50: p.ttft_ms?.p50 ?? null,
    ttft_p95: p.ttft_ms?.p95 ?? null,
  }));
}

export function hasTraffic(points: HistoryPoint[]): boolean {
  return points.some((p) => p.requests > 0);
}
