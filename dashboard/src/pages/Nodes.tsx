import { useSettings } from "../context/Settings";
import { useFetchStats } from "../hooks/useFetchStats";
import { Empty, Failure, Loading } from "../components/StateBox";
import BarCompare from "../components/BarCompare";
import { TableHead } from "../components/TableHead";
import { PANEL } from "../components/ui";
import { bytes, compact, duration, percent, rate, timestamp } from "../utils/formatters";
import type { NodeRow } from "./types";

const CELL = "px-3 py-1.5 tabular-nums";

// Live state exists only for the nodes of a proxy with several upstreams; a node known from
// the store alone (one upstream, or another proxy's node) shows a dash.
export function healthText(node: NodeRow): string {
  if (node.healthy === null) return "—";
  return node.healthy ? "up" : "ejected";
}

export function vramText(node: NodeRow): string {
  if (node.vram_used_bytes === null) return "—";
  const capacity = node.vram_capacity_bytes === null ? "" : ` / ${bytes(node.vram_capacity_bytes)}`;
  return `${bytes(node.vram_used_bytes)}${capacity}`;
}

export default function Nodes() {
  const { range } = useSettings();
  const nodes = useFetchStats<NodeRow[]>("/api/stats/nodes", { time_range: range });
  if (nodes.error) return <Failure error={nodes.error} />;
  if (!nodes.data) return <Loading />;
  if (!nodes.data.length) return <Empty />;
  const bars = nodes.data.map((n) => ({ name: n.node, requests: n.requests_count, tokens: n.tokens }));
  return (
    <div className="space-y-3">
      <div className="grid gap-3 md:grid-cols-2">
        <BarCompare title="requests by node" rows={bars} dataKey="requests" format={compact} />
        <BarCompare title="tokens by node" rows={bars} dataKey="tokens" format={compact} />
      </div>
      <div className={`${PANEL} overflow-x-auto p-0`}>
        <table className="w-full text-left text-sm" data-testid="node-table">
          <TableHead
            columns={["node", "health", "in flight", "VRAM", "loaded models", "requests", "errors", "p95 latency", "tokens/s", "queue wait", "cold loads", "last seen"]}
          />
          <tbody>
            {nodes.data.map((n) => (
              <tr key={n.node} className="border-t border-slate-100 dark:border-slate-800">
                <td className="px-3 py-1.5 font-medium" title={n.url ?? undefined}>
                  {n.node}
                  {n.version ? <span className="ml-1 text-xs text-slate-500">{n.version}</span> : null}
                </td>
                <td className={`px-3 py-1.5 ${n.healthy === false ? "text-red-600" : ""}`} data-col="health">
                  {healthText(n)}
                </td>
                <td className={CELL} data-col="in-flight" title={n.slots === null ? undefined : `${n.slots} slot(s) per model`}>
                  {n.in_flight ?? "—"}
                </td>
                <td className={CELL}>{vramText(n)}</td>
                <td className="px-3 py-1.5" data-col="loaded">
                  {n.loaded_models.map((m) => `${m.name} (${bytes(m.size_vram_bytes)})`).join(", ") || "—"}
                </td>
                <td className={CELL} data-col="requests">
                  {compact(n.requests_count)}
                </td>
                <td className={CELL}>{percent(n.error_rate)}</td>
                <td className={CELL}>{duration(n.p95_latency)}</td>
                <td className={CELL}>{rate(n.tokens_per_sec)}</td>
                <td className={CELL}>{duration(n.avg_queue_wait_ms)}</td>
                <td className={CELL}>{compact(n.cold_loads)}</td>
                <td className="whitespace-nowrap px-3 py-1.5">{timestamp(n.last_seen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
