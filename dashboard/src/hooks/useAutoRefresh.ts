import { useEffect, useState } from "react";

/** A counter that ticks every `intervalMs` unless paused or the tab is hidden. */
export function useAutoRefresh(intervalMs: number, paused: boolean): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (paused) return undefined;
    const id = window.setInterval(() => {
      if (!document.hidden) setTick((t) => t + 1);
    }, intervalMs);
    return () => window.clearInterval(id);
  }, [intervalMs, paused]);
  return tick;
}
