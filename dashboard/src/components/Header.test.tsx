import { describe, expect, it } from "vitest";
import { storeAlerts } from "./Header";

describe("storeAlerts", () => {
  it("names only the stores that are not current, with their backlog", () => {
    const alerts = storeAlerts([
      { healthy: true, url: "sqlite:///x.db", kind: "sqlite", state: "ok", backlog_records: 0 },
      { healthy: false, url: "postgresql://db", kind: "postgres", state: "down", backlog_records: 1200, backlog_age_s: 35.4 },
      { healthy: true, url: "chdb:///c", kind: "chdb", state: "degraded", backlog_records: 0 },
    ]);
    expect(alerts).toEqual(["postgres down: 1200 records behind (35 s)", "chdb degraded"]);
  });

  it("falls back to healthy when the state is not reported (api mode)", () => {
    expect(storeAlerts([{ healthy: false, url: "postgresql://db" }])).toEqual(["postgresql://db down"]);
    expect(storeAlerts([{ healthy: true, url: "postgresql://db" }])).toEqual([]);
    expect(storeAlerts(undefined)).toEqual([]);
  });
});
