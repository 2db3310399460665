import { describe, expect, it } from "vitest";
import { groupByNode, progressPercent, type LiveRequest } from "./live";

const base: LiveRequest = {
  id: "1",
  model: "llama3.2",
  client: "a",
  endpoint: "/api/chat",
  phase: "generating",
  estimated: false,
  elapsed_ms: 1000,
  tokens: 10,
  tokens_per_s: 20,
  eta_ms: 500,
  eta_estimated: false,
  progress: 0.5,
};

describe("groupByNode", () => {
  it("keeps arrival order inside each node and puts unnamed nodes under local", () => {
    const groups = groupByNode([
      { ...base, id: "1", node: "gpu-a" },
      { ...base, id: "2" },
      { ...base, id: "3", node: "gpu-a" },
    ]);
    expect(groups.map((g) => [g.node, g.requests.map((r) => r.id)])).toEqual([
      ["gpu-a", ["1", "3"]],
      ["local", ["2"]],
    ]);
  });
});

describe("progressPercent", () => {
  it("clamps, rounds, and leaves waiting phases empty", () => {
    expect(progressPercent(base)).toBe(50);
    expect(progressPercent({ ...base, progress: 1.7 })).toBe(100);
    expect(progressPercent({ ...base, progress: null })).toBe(0);
    expect(progressPercent({ ...base, phase: "queued", progress: 0.3 })).toBe(0);
  });
});
