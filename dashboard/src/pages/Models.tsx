import { useSettings } from "../context/Settings";
import { useFetchStats } from "../hooks/useFetchStats";
import { Empty, Failure, Loading } from "../components/StateBox";
import { TableHead } from "../components/TableHead";
import { MUTED, PANEL } from "../components/ui";
import { compact, duration, percent, rate, timestamp } from "../utils/formatters";
import type { ModelRow } from "./types";

interface TimelineEvent {
  timestamp: string;
  model: string;
  event: string;
  size_vram?: number | null;
}

export default function Models() {
  const { range } = useSettings();
  const models = useFetchStats<ModelRow[]>("/api/models", { time_range: range });
  const timeline = useFetchStats<TimelineEvent[] | { events: TimelineEvent[] }>("/api/stats/models/timeline", { time_range: range });
  if (models.error) return <Failure error={models.error} />;
  if (!models.data) return <Loading />;
  if (!models.data.length) return <Empty />;
  const events = Array.isArray(timeline.data) ? timeline.data : timeline.data?.events ?? [];
  return (
    <div className="space-y-3">
      <div className={`${PANEL} overflow-x-auto p-0`}>
        <table className="w-full text-left text-sm" data-testid="model-table">
          <TableHead columns={["model", "requests", "avg latency", "p95 latency", "tokens", "tokens/s", "TTFT", "thinking tokens", "avg thinking", "cold loads", "avg load", "errors", "last used", "loaded"]} />
          <tbody>
            {models.data.map((m) => (
              <tr key={m.model_name} className="border-t border-slate-100 dark:border-slate-800">
                <td className="px-3 py-1.5 font-medium">{m.model_name}</td>
                <td className="px-3 py-1.5 tabular-nums" data-col="requests">{compact(m.requests_count)}</td>
                <td className="px-3 py-1.5 tabular-nums">{duration(m.avg_latency)}</td>
                <td className="px-3 py-1.5 tabular-nums">{duration(m.p95_latency)}</td>
                <td className="px-3 py-1.5 tabular-nums">{compact(m.tokens)}</td>
                <td className="px-3 py-1.5 tabular-nums">{rate(m.tokens_per_sec)}</td>
                <td className="px-3 py-1.5 tabular-nums">{duration(m.ttft)}</td>
                <td className="px-3 py-1.5 tabular-nums" data-col="thinking-tokens">{m.thinking_tokens ? compact(m.thinking_tokens) : "—"}</td>
                <td className="px-3 py-1.5 tabular-nums">{duration(m.avg_thinking_ms)}</td>
                <td className="px-3 py-1.5 tabular-nums">{compact(m.load_count)}</td>
                <td className="px-3 py-1.5 tabular-nums">{duration(m.avg_load_ms)}</td>
                <td className="px-3 py-1.5 tabular-nums">{percent(m.error_rate)}</td>
                <td className="whitespace-nowrap px-3 py-1.5">{timestamp(m.last_used)}</td>
                <td className="px-3 py-1.5">{m.loaded ? "yes" : "no"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className={PANEL}>
        <div className={`${MUTED} mb-2`}>Residency (load / unload)</div>
        {events.length ? (
          <ul className="text-sm" data-testid="timeline">
            {events.map((e, i) => (
              <li key={i} className="tabular-nums">
                {timestamp(e.timestamp)} · {e.model} · {e.event}
              </li>
            ))}
          </ul>
        ) : (
          <div className={MUTED}>{timeline.error ? "Residency timeline not available from this proxy." : "No load or unload in this range."}</div>
        )}
      </div>
    </div>
  );
}
