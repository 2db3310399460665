import { describe, expect, it } from "vitest";
import { breakdownRows } from "./Breakdown";
import type { LogRow } from "./types";

const row = (over: Partial<LogRow>): LogRow => ({
  id: "x",
  timestamp: "2026-11-28T10:00:05.000Z",
  model: "m",
  client: "c",
  client_name: "",
  endpoint: "/api/chat",
  tokens: 1,
  latency_ms: 10,
  ttft_ms: 1,
  status: "success",
  http_status: 200,
  ...over,
});

describe("breakdownRows", () => {
  it("uses Ollama's timings and leaves out requests without them", () => {
    const rows = breakdownRows([
      row({ eval_duration_ms: 40, prompt_eval_duration_ms: 5, load_duration_ms: 1200, queue_wait_ms: 2 }),
      row({ eval_duration_ms: null, status: "error" }),
    ]);
    expect(rows).toEqual([{ name: "m 10:00:05", queue: 2, load: 1200, prompt: 5, generation: 40 }]);
  });
});
