import { useEffect, useState } from "react";
import type { LiveSnapshot } from "../utils/live";

export interface LiveState {
  snapshot: LiveSnapshot | null;
  connected: boolean;
}

/** The latest /api/stats/live snapshot, over one EventSource (it reconnects by itself). */
export function useLiveFeed(path = "/api/stats/live"): LiveState {
  const [state, setState] = useState<LiveState>({ snapshot: null, connected: false });
  useEffect(() => {
    const source = new EventSource(path, { withCredentials: true });
    source.onmessage = (event) => {
      try {
        setState({ snapshot: JSON.parse(event.data) as LiveSnapshot, connected: true });
      } catch {
        // a malformed event is skipped; the next snapshot replaces it
      }
    };
    source.onerror = () => setState((s) => ({ ...s, connected: false }));
    return () => source.close();
  }, [path]);
  return state;
}
