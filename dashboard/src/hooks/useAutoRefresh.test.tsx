import { act, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { useAutoRefresh } from "./useAutoRefresh";

function Tick({ paused }: { paused: boolean }) {
  return <p>tick {useAutoRefresh(1000, paused)}</p>;
}

afterEach(() => vi.useRealTimers());

describe("useAutoRefresh", () => {
  it("ticks on the interval and stops while paused", () => {
    vi.useFakeTimers();
    const { rerender } = render(<Tick paused={false} />);
    act(() => {
      vi.advanceTimersByTime(2100);
    });
    expect(screen.getByText("tick 2")).toBeTruthy();
    rerender(<Tick paused />);
    act(() => {
      vi.advanceTimersByTime(5000);
    });
    expect(screen.getByText("tick 2")).toBeTruthy();
  });
});
