import { useMemo, useState } from "react";
import { useSettings, type TimeRange } from "../context/Settings";
import { useFetchStats } from "../hooks/useFetchStats";
import { Empty, Failure, Loading } from "../components/StateBox";
import { TableHead } from "../components/TableHead";
import { BUTTON, INPUT, MUTED, PANEL } from "../components/ui";
import { buildUrl } from "../utils/api";
import { compact, duration, timestamp } from "../utils/formatters";
import type { LogRow } from "./types";

const PAGE_SIZE = 25;
const RANGE_MS: Record<TimeRange, number> = { "1h": 3.6e6, "6h": 2.16e7, "24h": 8.64e7, "7d": 6.048e8 };

export function sinceFor(range: TimeRange, now = Date.now()): string {
  // Whole minutes keep the query key (and the API cache) stable between refreshes.
  const since = Math.floor((now - RANGE_MS[range]) / 60_000) * 60_000;
  return new Date(since).toISOString();
}

const STATUS_STYLE: Record<string, string> = {
  success: "text-emerald-600 dark:text-emerald-400",
  error: "text-red-600 dark:text-red-400",
  cancelled: "text-amber-600 dark:text-amber-400",
};

function Detail({ id, onClose }: { id: string; onClose: () => void }) {
  const one = useFetchStats<LogRow>(`/api/stats/logs/${encodeURIComponent(id)}`);
  return (
    <aside className="fixed inset-y-0 right-0 z-20 w-full max-w-md overflow-y-auto border-l border-slate-200 bg-white p-4 shadow-xl dark:border-slate-800 dark:bg-slate-900" data-testid="drawer">
      <div className="mb-3 flex items-center justify-between">
        <h2 className="font-semibold">Request</h2>
        <button type="button" className={BUTTON} onClick={onClose} data-testid="drawer-close">
          close
        </button>
      </div>
      {one.data ? (
        <dl className="grid grid-cols-2 gap-x-3 gap-y-1 text-sm">
          {Object.entries(one.data).map(([key, value]) => (
            <div key={key} className="contents">
              <dt className={MUTED}>{key}</dt>
              <dd className="break-all tabular-nums">{value === null || value === "" ? "—" : String(value)}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <div className={MUTED}>Loading…</div>
      )}
    </aside>
  );
}

export default function Logs() {
  const { range } = useSettings();
  const [model, setModel] = useState("");
  const [status, setStatus] = useState("");
  const [client, setClient] = useState("");
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<string | null>(null);
  const since = useMemo(() => sinceFor(range), [range]);
  const filters = { model, status, client, since };
  const page = useFetchStats<{ total: number; logs: LogRow[] }>("/api/stats/logs", { ...filters, limit: PAGE_SIZE, offset });
  const reset = (set: (v: string) => void) => (v: string) => {
    set(v);
    setOffset(0);
  };
  return (
    <div className="space-y-3">
      <div className={`${PANEL} flex flex-wrap items-end gap-2`}>
        <input aria-label="model filter" placeholder="model" className={INPUT} value={model} onChange={(e) => reset(setModel)(e.target.value)} data-testid="filter-model" />
        <select aria-label="status filter" className={INPUT} value={status} onChange={(e) => reset(setStatus)(e.target.value)} data-testid="filter-status">
          <option value="">any status</option>
          <option value="success">success</option>
          <option value="error">error</option>
          <option value="cancelled">cancelled</option>
        </select>
        <input aria-label="client filter" placeholder="client" className={INPUT} value={client} onChange={(e) => reset(setClient)(e.target.value)} data-testid="filter-client" />
        <a className={`${BUTTON} ml-auto`} href={buildUrl("/api/stats/logs.csv", filters)} download data-testid="csv">
          Export CSV
        </a>
      </div>
      {page.error ? <Failure error={page.error} /> : null}
      {!page.data && !page.error ? <Loading /> : null}
      {page.data && page.data.total === 0 ? <Empty>No request matches these filters.</Empty> : null}
      {page.data && page.data.total > 0 ? (
        <div className={`${PANEL} overflow-x-auto p-0`}>
          <table className="w-full text-left text-sm" data-testid="log-table">
            <TableHead columns={["time", "model", "client", "endpoint", "tokens", "latency", "TTFT", "thinking", "status"]} />
            <tbody>
              {page.data.logs.map((row) => (
                <tr key={row.id} className="cursor-pointer border-t border-slate-100 hover:bg-slate-50 dark:border-slate-800 dark:hover:bg-slate-800/50" onClick={() => setSelected(row.id)}>
                  <td className="whitespace-nowrap px-3 py-1.5 tabular-nums">{timestamp(row.timestamp)}</td>
                  <td className="px-3 py-1.5" data-col="model">{row.model || "—"}</td>
                  <td className="px-3 py-1.5">{row.client_name || row.client}</td>
                  <td className="px-3 py-1.5">{row.endpoint}</td>
                  <td className="px-3 py-1.5 tabular-nums">{compact(row.tokens)}</td>
                  <td className="px-3 py-1.5 tabular-nums">{duration(row.latency_ms)}</td>
                  <td className="px-3 py-1.5 tabular-nums">{duration(row.ttft_ms)}</td>
                  <td className="px-3 py-1.5 tabular-nums" data-col="thinking">{duration(row.thinking_ms ?? null)}</td>
                  <td className={`px-3 py-1.5 ${STATUS_STYLE[row.status] ?? ""}`} data-col="status">
                    {row.status}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="flex items-center justify-between px-3 py-2 text-sm">
            <span className={MUTED} data-testid="log-total">
              {offset + 1}–{Math.min(offset + PAGE_SIZE, page.data.total)} of {page.data.total}
            </span>
            <span className="flex gap-2">
              <button type="button" className={BUTTON} disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}>
                previous
              </button>
              <button type="button" className={BUTTON} disabled={offset + PAGE_SIZE >= page.data.total} onClick={() => setOffset(offset + PAGE_SIZE)} data-testid="next">
                next
              </button>
            </span>
          </div>
        </div>
      ) : null}
      {selected ? <Detail id={selected} onClose={() => setSelected(null)} /> : null}
    </div>
  );
}
