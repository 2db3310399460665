import { describe, expect, it } from "vitest";
import { bytes, compact, duration, hours, percent, rate, timestamp, DASH } from "./formatters";

describe("formatters", () => {
  it("formats numbers for people", () => {
    expect(compact(1234)).toBe("1.2k");
    expect(compact(999)).toBe("999");
    expect(compact(2_500_000)).toBe("2.5M");
    expect(duration(340.4)).toBe("340 ms");
    expect(duration(2100)).toBe("2.10 s");
    expect(bytes(2_100_000_000)).toBe("2.1 GB");
    expect(rate(42.4)).toBe("42 tok/s");
    expect(percent(0.25)).toBe("25%");
    expect(hours(0.5)).toBe("30 min");
    expect(timestamp("2026-11-28T10:00:00.000Z")).toBe("2026-11-28 10:00:00");
  });
  it("shows missing values as a dash, never as zero", () => {
    for (const f of [compact, duration, rate, bytes, percent, hours]) {
      expect(f(null)).toBe(DASH);
      expect(f(undefined)).toBe(DASH);
      expect(f(Number.NaN)).toBe(DASH);
    }
    expect(timestamp(null)).toBe(DASH);
  });
});
