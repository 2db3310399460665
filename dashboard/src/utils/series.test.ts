import { describe, expect, it } from "vitest";
import { hasTraffic, historyRows, type HistoryPoint } from "./series";

const point = (minute: number, requests: number, p95: number | null): HistoryPoint => ({
  timestamp: `2026-11-28T10:${String(minute).padStart(2, "0")}:00.000Z`,
  requests,
  errors: 0,
  tokens_total: requests * 10,
  throughput: requests ? 5 : 0,
  latency_ms: { p50: p95, p95, p99: p95 },
  ttft_ms: { p50: null, p95: null, p99: null },
});

describe("historyRows", () => {
  it("keeps empty buckets and null percentiles as the API gave them", () => {
    const rows = historyRows([point(0, 3, 120), point(1, 0, null)]);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ time: "10:00", requests: 3, tokens: 30, p95: 120 });
    expect(rows[1]).toMatchObject({ time: "10:01", requests: 0, p95: null, ttft_p50: null });
  });
  it("tells traffic from none", () => {
    expect(hasTraffic([point(0, 0, null)])).toBe(false);
    expect(hasTraffic([point(0, 1, 5)])).toBe(true);
  });
});
