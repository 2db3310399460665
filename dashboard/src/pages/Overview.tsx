import { useSettings } from "../context/Settings";
import { useFetchStats } from "../hooks/useFetchStats";
import { StatsCard } from "../components/StatsCard";
import { Empty, Failure, Loading } from "../components/StateBox";
import TrendChart from "../components/TrendChart";
import { MUTED, PANEL } from "../components/ui";
import { bytes, compact, duration, hours, rate, timestamp } from "../utils/formatters";
import { hasTraffic, historyRows, type HistoryPoint } from "../utils/series";
import type { Current } from "./types";

export default function Overview() {
  const { range } = useSettings();
  const current = useFetchStats<Current>("/api/stats/current");
  const history = useFetchStats<HistoryPoint[]>("/api/stats/history", { time_range: range });
  if (current.error) return <Failure error={current.error} />;
  if (!current.data) return <Loading />;
  const c = current.data;
  const rows = history.data ? historyRows(history.data) : [];
  return (
    <div className="space-y-4">
      <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
        <StatsCard testId="card-tokens" label="Total tokens (all time)" value={compact(c.tokens_total)} />
        <StatsCard testId="card-tps" label="Avg tokens/s (last hour)" value={rate(c.tokens_per_sec)} />
        <StatsCard testId="card-uptime" label="Uptime" value={hours(c.uptime_hours)} />
        <StatsCard testId="card-errors" label="Errors (all time)" value={compact(c.error_count)} />
        <StatsCard testId="card-requests" label="Requests (last hour)" value={compact(c.requests_last_hour)} />
        <StatsCard testId="card-p95" label="p95 latency (last hour)" value={duration(c.latency_ms?.p95)} />
        <StatsCard testId="card-ttft" label="TTFT p50 (last hour)" value={duration(c.ttft_ms?.p50)} />
        <StatsCard testId="card-inflight" label="In flight" value={compact(c.in_flight)} />
      </div>
      {history.data && !hasTraffic(history.data) && c.requests_total === 0 ? <Empty /> : null}
      {history.data ? (
        <div className="grid gap-3 md:grid-cols-2">
          <TrendChart title="Tokens" rows={rows} series={[{ key: "tokens", label: "tokens" }]} format={compact} height={160} />
          <TrendChart title="Latency p95" rows={rows} series={[{ key: "p95", label: "p95" }]} format={duration} height={160} />
        </div>
      ) : null}
      <div className={PANEL}>
        <div className={`${MUTED} mb-2`}>Loaded models</div>
        {c.loaded_models?.length ? (
          <ul className="divide-y divide-slate-200 dark:divide-slate-800" data-testid="loaded-models">
            {c.loaded_models.map((m) => (
              <li key={m.name} className="flex flex-wrap justify-between gap-2 py-1 text-sm">
                <span className="font-medium">{m.name}</span>
                <span className="tabular-nums">
                  VRAM {bytes(m.size_vram_bytes)} / {bytes(m.size_bytes)} · until {timestamp(m.expires_at)}
                </span>
              </li>
            ))}
          </ul>
        ) : (
          <div className={MUTED}>No model in memory.</div>
        )}
      </div>
    </div>
  );
}
