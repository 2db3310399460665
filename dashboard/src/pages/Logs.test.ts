import { describe, expect, it } from "vitest";
import { sinceFor } from "./Logs";

describe("sinceFor", () => {
  it("is the range start, rounded down to the minute", () => {
    const now = Date.parse("2026-11-28T10:30:45.500Z");
    expect(sinceFor("1h", now)).toBe("2026-11-28T09:30:00.000Z");
    expect(sinceFor("7d", now)).toBe("2026-11-21T10:30:00.000Z");
  });
});
