import { describe, expect, it } from "vitest";
import { healthText, vramText } from "./Nodes";
import type { NodeRow } from "./types";

const row: NodeRow = {
  node: "gpu1",
  url: "http://10.0.0.5:11434",
  healthy: true,
  version: "0.12.3",
  in_flight: 2,
  slots: 4,
  vram_used_bytes: 2 * 1024 ** 3,
  vram_capacity_bytes: 24 * 1024 ** 3,
  ejections: 0,
  loaded_models: [],
  requests_count: 1,
  errors: 0,
  error_rate: 0,
  avg_latency: null,
  p95_latency: null,
  tokens: 0,
  tokens_per_sec: null,
  avg_queue_wait_ms: null,
  cold_loads: 0,
  last_seen: null,
};

describe("nodes page cells", () => {
  it("names the health of live and store-only nodes", () => {
    expect(healthText(row)).toBe("up");
    expect(healthText({ ...row, healthy: false })).toBe("ejected");
    expect(healthText({ ...row, healthy: null })).toBe("—");
  });
  it("shows VRAM used over capacity, or a dash without live state", () => {
    expect(vramText(row)).toMatch(/\//);
    expect(vramText({ ...row, vram_capacity_bytes: null })).not.toMatch(/\//);
    expect(vramText({ ...row, vram_used_bytes: null })).toBe("—");
  });
});
