import { useSettings } from "../context/Settings";
import { useFetchStats } from "../hooks/useFetchStats";
import { Empty, Failure, Loading } from "../components/StateBox";
import TrendChart from "../components/TrendChart";
import BarCompare from "../components/BarCompare";
import { compact, duration, rate } from "../utils/formatters";
import { hasTraffic, historyRows, type HistoryPoint } from "../utils/series";
import Breakdown from "./Breakdown";
import type { LogRow, ModelRow } from "./types";

interface SystemAnswer {
  series: Record<string, { timestamp: string; value: number }[]>;
}

function systemRows(system: SystemAnswer | null) {
  const cpu = system?.series["system.cpu.percent"] ?? [];
  const memory = new Map((system?.series["system.memory.percent"] ?? []).map((p) => [p.timestamp, p.value]));
  return cpu.map((p) => ({ time: p.timestamp.slice(11, 16), cpu: p.value, memory: memory.get(p.timestamp) ?? null }));
}

export default function Performance() {
  const { range } = useSettings();
  const history = useFetchStats<HistoryPoint[]>("/api/stats/history", { time_range: range });
  const models = useFetchStats<ModelRow[]>("/api/models", { time_range: range });
  const recent = useFetchStats<{ logs: LogRow[] }>("/api/stats/logs", { limit: 30, status: "success" });
  const system = useFetchStats<SystemAnswer>("/api/stats/system", { time_range: range });
  if (history.error) return <Failure error={history.error} />;
  if (!history.data) return <Loading />;
  if (!hasTraffic(history.data)) return <Empty />;
  const rows = historyRows(history.data);
  const perModel = (models.data ?? []).map((m) => ({
    name: m.model_name,
    p95: m.p95_latency,
    tps: m.tokens_per_sec,
    ttft: m.ttft,
    loads: m.load_count,
  }));
  return (
    <div className="space-y-3">
      <TrendChart title="Latency" rows={rows} format={duration} series={[{ key: "p50", label: "p50" }, { key: "p95", label: "p95" }, { key: "p99", label: "p99" }]} />
      <div className="grid gap-3 md:grid-cols-2">
        <TrendChart title="Time to first token" rows={rows} format={duration} series={[{ key: "ttft_p50", label: "p50" }, { key: "ttft_p95", label: "p95" }]} />
        <TrendChart title="Throughput" rows={rows} format={rate} series={[{ key: "throughput", label: "tokens/s" }]} />
        <TrendChart title="Requests and errors" rows={rows} format={compact} series={[{ key: "requests", label: "requests" }, { key: "errors", label: "errors" }]} />
      </div>
      {recent.data ? <Breakdown logs={recent.data.logs} /> : null}
      {system.data && systemRows(system.data).length ? (
        <TrendChart title="CPU and memory" rows={systemRows(system.data)} format={(v) => (v === null ? "—" : `${Math.round(v)}%`)} series={[{ key: "cpu", label: "CPU %" }, { key: "memory", label: "memory %" }]} />
      ) : null}
      {perModel.length ? (
        <div className="grid gap-3 md:grid-cols-2">
          <BarCompare title="p95 latency by model" rows={perModel} dataKey="p95" format={duration} />
          <BarCompare title="tokens/s by model" rows={perModel} dataKey="tps" format={rate} color={3} />
          <BarCompare title="TTFT by model" rows={perModel} dataKey="ttft" format={duration} color={1} />
          <BarCompare title="cold loads by model" rows={perModel} dataKey="loads" format={compact} color={2} />
        </div>
      ) : null}
    </div>
  );
}
