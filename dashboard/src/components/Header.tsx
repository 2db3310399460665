import { TIME_RANGES, useSettings, type TimeRange } from "../context/Settings";
import { useFetchStats } from "../hooks/useFetchStats";
import { BUTTON, INPUT } from "./ui";

interface FiringAlerts {
  firing: { rule: string; labels: Record<string, string> }[];
}

export interface Health {
  status: "healthy" | "degraded" | "unhealthy";
  reasons: string[];
  version: string;
  upstream: { version: string | null; reachable: boolean } | null;
  stores: StoreHealth[];
}

export interface StoreHealth {
  healthy: boolean;
  url: string;
  kind?: string;
  state?: "ok" | "degraded" | "down" | null;
  backlog_records?: number | null;
  backlog_age_s?: number | null;
  error?: string | null;
}

/** Stores that are not current: "postgres down: 1200 records behind (35 s)". */
export function storeAlerts(stores: StoreHealth[] | undefined): string[] {
  return (stores ?? [])
    .filter((s) => (s.state ?? (s.healthy ? "ok" : "down")) !== "ok")
    .map((s) => {
      const state = s.state ?? "down";
      const behind = s.backlog_records ? `: ${s.backlog_records} records behind (${Math.round(s.backlog_age_s ?? 0)} s)` : "";
      return `${s.kind || s.url} ${state}${behind}`;
    });
}

const DOT: Record<string, string> = {
  healthy: "bg-emerald-500",
  degraded: "bg-amber-500",
  unhealthy: "bg-red-500",
};

export const PAGES = ["overview", "live", "performance", "logs", "models", "clients", "nodes", "alerts"] as const;
export type Page = (typeof PAGES)[number];

export function Header({ page, setPage }: { page: Page; setPage: (p: Page) => void }) {
  const { range, setRange, theme, toggleTheme, paused, setPaused } = useSettings();
  const health = useFetchStats<Health>("/api/health");
  const status = health.data?.status ?? (health.error ? "unhealthy" : "…");
  const reasons = health.data?.reasons?.join("\n") || (health.error ? health.error.message : "all good");
  const alerts = useFetchStats<FiringAlerts>("/api/alerts", { history: 0 });
  const firing = alerts.data?.firing ?? [];
  return (
    <header className="sticky top-0 z-10 border-b border-slate-200 bg-white/90 backdrop-blur dark:border-slate-800 dark:bg-slate-950/90">
      <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-3 px-4 py-3">
        <h1 className="text-lg font-semibold">ollama-local-serve</h1>
        <span className="flex items-center gap-1 text-sm" title={reasons} data-testid="status">
          <span className={`inline-block h-2.5 w-2.5 rounded-full ${DOT[status] ?? "bg-slate-400"}`} />
          {status}
        </span>
        <span className="text-sm text-slate-500" data-testid="upstream-version">
          Ollama {health.data?.upstream?.version ?? "—"}
        </span>
        {storeAlerts(health.data?.stores).map((alert) => (
          <span key={alert} className="rounded bg-amber-100 px-2 py-0.5 text-xs text-amber-900 dark:bg-amber-900/40 dark:text-amber-200" data-testid="store-alert" title={reasons}>
            store {alert}
          </span>
        ))}
        {firing.length ? (
          <button
            type="button"
            onClick={() => setPage("alerts")}
            data-testid="alerts-badge"
            title={firing.map((a) => a.rule).join("\n")}
            className="rounded-full bg-red-600 px-2 py-0.5 text-xs font-semibold text-white"
          >
            {firing.length} firing: {[...new Set(firing.map((a) => a.rule))].join(", ")}
          </button>
        ) : null}
        <div className="ml-auto flex flex-wrap items-center gap-2">
          <select aria-label="time range" className={INPUT} value={range} onChange={(e) => setRange(e.target.value as TimeRange)}>
            {TIME_RANGES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          <button type="button" className={BUTTON} onClick={() => setPaused(!paused)} data-testid="pause">
            {paused ? "resume refresh" : "pause refresh"}
          </button>
          <button type="button" className={BUTTON} onClick={toggleTheme} data-testid="theme" aria-label="toggle dark mode">
            {theme === "dark" ? "light" : "dark"}
          </button>
        </div>
      </div>
      <nav className="mx-auto flex max-w-7xl gap-1 overflow-x-auto px-4 pb-2">
        {PAGES.map((p) => (
          <button
            key={p}
            type="button"
            onClick={() => setPage(p)}
            data-testid={`nav-${p}`}
            className={`rounded-md px-3 py-1 text-sm capitalize ${p === page ? "bg-indigo-600 text-white" : "hover:bg-slate-100 dark:hover:bg-slate-800"}`}
          >
            {p}
          </button>
        ))}
      </nav>
    </header>
  );
}
