import { describe, expect, it } from "vitest";
import { labelText, parseMatchers, ruleValue, seconds } from "./alerts";

describe("alerts helpers", () => {
  it("shows labels without severity", () => {
    expect(labelText({ model: "m", severity: "warning", gpu: "0" })).toBe("model=m, gpu=0");
    expect(labelText({})).toBe("");
  });
  it("parses matchers or refuses", () => {
    expect(parseMatchers("model=llama3.2:latest, gpu = 0")).toEqual({ model: "llama3.2:latest", gpu: "0" });
    expect(parseMatchers("")).toEqual({});
    expect(parseMatchers("model")).toBeNull();
    expect(parseMatchers("=x")).toBeNull();
  });
  it("formats durations and values", () => {
    expect([seconds(30), seconds(600), seconds(3600), seconds(604800), seconds(90), seconds(0)]).toEqual(["30s", "10m", "1h", "7d", "90s", "0"]);
    expect(ruleValue("error_rate", 0.25)).toBe("25.0%");
    expect(ruleValue("queue_full", 3)).toBe("3");
    expect(ruleValue("vram_high", 96.123)).toBe("96.12");
    expect(ruleValue("ttft_p95", null)).toBe("—");
  });
});
