import { useSettings } from "../context/Settings";
import { useFetchStats } from "../hooks/useFetchStats";
import { Empty, Failure, Loading } from "../components/StateBox";
import BarCompare from "../components/BarCompare";
import { TableHead } from "../components/TableHead";
import { MUTED, PANEL } from "../components/ui";
import { compact, duration, percent, timestamp } from "../utils/formatters";
import type { ClientRow } from "./types";

function quotaText(quota: ClientRow["quota"]): string {
  if (!quota) return "—";
  const parts = [];
  if (quota.gpu_s_limit !== null) parts.push(`${compact(quota.gpu_s_used)} / ${compact(quota.gpu_s_limit)} GPU s`);
  if (quota.tokens_limit !== null) parts.push(`${compact(quota.tokens_used)} / ${compact(quota.tokens_limit)} tokens`);
  return parts.join(", ");
}

export default function Clients() {
  const { range } = useSettings();
  const clients = useFetchStats<ClientRow[]>("/api/stats/clients", { time_range: range });
  if (clients.error) return <Failure error={clients.error} />;
  if (!clients.data) return <Loading />;
  if (!clients.data.length) return <Empty />;
  const bars = clients.data.map((c) => ({ name: c.client, tokens: c.tokens, gpu: c.gpu_s + c.load_charged_s }));
  return (
    <div className="space-y-3">
      <div className="grid gap-3 md:grid-cols-2">
        <BarCompare title="tokens by client" rows={bars} dataKey="tokens" format={compact} />
        <BarCompare title="GPU seconds by client" rows={bars} dataKey="gpu" format={compact} />
      </div>
      <div className={`${PANEL} overflow-x-auto p-0`}>
        <table className="w-full text-left text-sm" data-testid="client-table">
          <TableHead columns={["client", "requests", "errors", "avg latency", "p95 latency", "tokens", "GPU time", "GPU share", "quota today", "models", "last seen"]} />
          <tbody>
            {clients.data.map((c) => (
              <tr key={c.client} className="border-t border-slate-100 dark:border-slate-800">
                <td className="px-3 py-1.5 font-medium">{c.client}</td>
                <td className="px-3 py-1.5 tabular-nums" data-col="requests">{compact(c.requests_count)}</td>
                <td className="px-3 py-1.5 tabular-nums">{percent(c.error_rate)}</td>
                <td className="px-3 py-1.5 tabular-nums">{duration(c.avg_latency)}</td>
                <td className="px-3 py-1.5 tabular-nums">{duration(c.p95_latency)}</td>
                <td className="px-3 py-1.5 tabular-nums">{compact(c.tokens)}</td>
                <td className="px-3 py-1.5 tabular-nums" data-col="gpu" title={`of which model loads: ${duration(c.load_charged_s * 1000)}`}>
                  {duration((c.gpu_s + c.load_charged_s) * 1000)}
                </td>
                <td className="px-3 py-1.5 tabular-nums" data-col="gpu-share">{percent(c.gpu_share)}</td>
                <td className={`px-3 py-1.5 tabular-nums ${c.quota?.exceeded ? "text-red-600" : ""}`} data-col="quota">
                  {quotaText(c.quota)}
                </td>
                <td className="px-3 py-1.5">{c.models.join(", ")}</td>
                <td className="whitespace-nowrap px-3 py-1.5">{timestamp(c.last_seen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
