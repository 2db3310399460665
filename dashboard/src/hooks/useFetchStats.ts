import { useEffect, useRef, useState } from "react";
import { ApiError, apiFetch, type Query } from "../utils/api";
import { useSettings } from "../context/Settings";
import { useAutoRefresh } from "./useAutoRefresh";

export interface FetchState<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  updatedAt: number | null;
}

/** Fetch an API path, keyed by the query; refetch on every auto-refresh tick. */
export function useFetchStats<T>(path: string | null, query: Query = {}): FetchState<T> {
  const { refreshMs, paused } = useSettings();
  const tick = useAutoRefresh(refreshMs, paused);
  const key = path ? `${path}?${JSON.stringify(query)}` : "";
  const [state, setState] = useState<FetchState<T>>({ data: null, error: null, loading: true, updatedAt: null });
  const lastKey = useRef("");

  useEffect(() => {
    if (!path) return undefined;
    let cancelled = false;
    if (lastKey.current !== key) {
      lastKey.current = key;
      setState({ data: null, error: null, loading: true, updatedAt: null });
    }
    apiFetch<T>(path, query)
      .then((data) => !cancelled && setState({ data, error: null, loading: false, updatedAt: Date.now() }))
      .catch((error: ApiError) => !cancelled && setState((s) => ({ ...s, error, loading: false })));
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, tick]);
  return state;
}
