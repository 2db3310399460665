import { render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import App from "./App";
import { SettingsProvider } from "./context/Settings";
import { ApiError, apiFetch, buildUrl } from "./utils/api";

afterEach(() => vi.restoreAllMocks());

describe("api", () => {
  it("builds query strings without empty values", () => {
    expect(buildUrl("/api/stats/logs", { model: "m", status: "", limit: 25, client: null })).toBe(
      "/api/stats/logs?model=m&limit=25",
    );
  });
  it("raises ApiError with the API's message and field", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(
      new Response(JSON.stringify({ error: "limit must be 1..1000", field: "limit" }), { status: 400 }),
    );
    await expect(apiFetch("/api/stats/logs")).rejects.toMatchObject({ status: 400, field: "limit" });
  });
  it("treats an unhealthy /api/health (503) as data, not as an error", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(JSON.stringify({ status: "unhealthy" }), { status: 503 }));
    await expect(apiFetch("/api/health")).resolves.toEqual({ status: "unhealthy" });
  });
  it("reports a network failure as status 0", async () => {
    vi.spyOn(globalThis, "fetch").mockRejectedValue(new TypeError("failed"));
    const error = await apiFetch("/api/x").catch((e: ApiError) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(0);
  });
});

describe("App", () => {
  it("shows the login screen when the API asks for the admin token", async () => {
    vi.spyOn(globalThis, "fetch").mockImplementation(async () =>
      new Response(JSON.stringify({ error: "admin token required" }), { status: 401 }),
    );
    render(
      <SettingsProvider>
        <App />
      </SettingsProvider>,
    );
    await waitFor(() => expect(screen.getByTestId("login")).toBeTruthy());
    expect(screen.getByLabelText("admin token")).toBeTruthy();
  });
});
