// Pure shaping of /api/stats/live snapshots for the Live page.

export type Phase = "queued" | "loading" | "prefill" | "thinking" | "generating";

export interface LiveRequest {
  id: string;
  model: string;
  client: string;
  node?: string;
  endpoint: string;
  phase: Phase;
  estimated: boolean;
  elapsed_ms: number;
  tokens: number;
  tokens_per_s: number | null;
  eta_ms: number | null;
  eta_estimated: boolean | null;
  progress: number | null;
}

export interface LoadedModel {
  name: string;
  size_vram: number;
  expires_in_ms: number | null;
  node?: string; // with several upstreams: the node it is resident on
}

export interface LiveSnapshot {
  timestamp: string;
  in_flight: number;
  requests: LiveRequest[];
  models: Record<string, { waiting: number; generating: number }>;
  loaded: LoadedModel[];
}

export interface LiveGroup {
  node: string;
  requests: LiveRequest[];
}

/** Requests grouped by node (one group, "local", when no request names a node), in order. */
export function groupByNode(requests: LiveRequest[]): LiveGroup[] {
  const groups = new Map<string, LiveRequest[]>();
  for (const request of requests) {
    const node = request.node || "local";
    const list = groups.get(node);
    if (list) list.push(request);
    else groups.set(node, [request]);
  }
  return [...groups.entries()].map(([node, list]) => ({ node, requests: list }));
}

/** The progress bar's width in percent; waiting phases show an empty bar. */
export function progressPercent(request: LiveRequest): number {
  if (request.progress === null || request.phase === "queued" || request.phase === "loading") return 0;
  return Math.round(Math.min(1, Math.max(0, request.progress)) * 100);
}

export const PHASE_COLORS: Record<Phase, string> = {
  queued: "bg-slate-400",
  loading: "bg-amber-500",
  prefill: "bg-sky-500",
  thinking: "bg-violet-500",
  generating: "bg-emerald-500",
};
