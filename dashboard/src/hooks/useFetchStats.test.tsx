import { act, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SettingsProvider } from "../context/Settings";
import { useFetchStats } from "./useFetchStats";

function Probe({ path }: { path: string }) {
  const { data, error, loading } = useFetchStats<{ n: number }>(path, { a: 1 });
  if (loading) return <p>loading</p>;
  if (error) return <p>error {error.status} {error.message}</p>;
  return <p>value {data?.n}</p>;
}

afterEach(() => vi.restoreAllMocks());

describe("useFetchStats", () => {
  it("loads, then refreshes on the interval", async () => {
    let n = 0;
    const fetchMock = vi.spyOn(globalThis, "fetch").mockImplementation(async () => {
      n += 1;
      return new Response(JSON.stringify({ n }), { status: 200 });
    });
    vi.useFakeTimers({ shouldAdvanceTime: true });
    render(
      <SettingsProvider refreshMs={1000}>
        <Probe path="/api/x" />
      </SettingsProvider>,
    );
    await waitFor(() => expect(screen.getByText("value 1")).toBeTruthy());
    expect(String(fetchMock.mock.calls[0][0])).toBe("/api/x?a=1");
    await act(async () => {
      vi.advanceTimersByTime(1100);
    });
    await waitFor(() => expect(screen.getByText("value 2")).toBeTruthy());
    vi.useRealTimers();
  });

  it("surfaces the API's error message and status", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(
      new Response(JSON.stringify({ error: "bad time_range", field: "time_range" }), { status: 400 }),
    );
    render(
      <SettingsProvider>
        <Probe path="/api/y" />
      </SettingsProvider>,
    );
    await waitFor(() => expect(screen.getByText("error 400 bad time_range")).toBeTruthy());
  });
});
