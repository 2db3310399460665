import { useLiveFeed } from "../hooks/useLiveFeed";
import { Loading } from "../components/StateBox";
import { TableHead } from "../components/TableHead";
import { MUTED, PANEL } from "../components/ui";
import { bytes, compact, duration, rate } from "../utils/formatters";
import { groupByNode, PHASE_COLORS, progressPercent, type LiveRequest } from "../utils/live";

function Row({ r }: { r: LiveRequest }) {
  const pct = progressPercent(r);
  return (
    <tr className="border-t border-slate-100 dark:border-slate-800" data-testid="live-row" data-id={r.id}>
      <td className="px-3 py-1.5 font-medium">{r.model || "—"}</td>
      <td className="px-3 py-1.5">{r.client}</td>
      <td className="px-3 py-1.5" data-col="phase" title={r.estimated ? "estimated: the proxy has seen no output yet" : undefined}>
        <span className={`mr-1 inline-block h-2 w-2 rounded-full ${PHASE_COLORS[r.phase]}`} />
        {r.phase}
        {r.estimated ? "?" : ""}
      </td>
      <td className="w-40 px-3 py-1.5">
        <div className="h-2 w-full rounded bg-slate-200 dark:bg-slate-800" role="progressbar" aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100}>
          <div className={`h-2 rounded ${PHASE_COLORS[r.phase]}`} style={{ width: `${pct}%` }} />
        </div>
      </td>
      <td className="px-3 py-1.5 tabular-nums" data-col="tokens">{r.tokens}</td>
      <td className="px-3 py-1.5 tabular-nums" data-col="tps">{rate(r.tokens_per_s)}</td>
      <td className="px-3 py-1.5 tabular-nums">{duration(r.elapsed_ms)}</td>
      <td className="px-3 py-1.5 tabular-nums" title={r.eta_estimated ? "from the model's typical answer length" : undefined}>
        {r.eta_ms === null ? "—" : `${r.eta_estimated ? "~" : ""}${duration(r.eta_ms)}`}
      </td>
      <td className="px-3 py-1.5 text-xs text-slate-500">{r.endpoint}</td>
    </tr>
  );
}

export default function Live() {
  const { snapshot, connected } = useLiveFeed();
  if (!snapshot) return <Loading />;
  const groups = groupByNode(snapshot.requests);
  const models = Object.entries(snapshot.models);
  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-3 text-sm">
        <span data-testid="live-count">{snapshot.in_flight} in flight</span>
        <span className={MUTED}>{connected ? "live" : "reconnecting…"}</span>
        {models.map(([name, c]) => (
          <span key={name} className="rounded bg-slate-100 px-2 py-0.5 dark:bg-slate-800">
            {name}: {c.generating} running, {c.waiting} waiting
          </span>
        ))}
      </div>
      {groups.length === 0 ? (
        <div className={`${PANEL} ${MUTED}`} data-testid="live-idle">
          Nothing in flight.
        </div>
      ) : (
        groups.map((g) => (
          <div key={g.node} className={`${PANEL} overflow-x-auto p-0`}>
            <h2 className="px-3 pt-2 text-sm font-semibold">{g.node}</h2>
            <table className="w-full text-left text-sm" data-testid="live-table">
              <TableHead columns={["model", "client", "phase", "progress", "tokens", "tokens/s", "elapsed", "time left", "endpoint"]} />
              <tbody>
                {g.requests.map((r) => (
                  <Row key={r.id} r={r} />
                ))}
              </tbody>
            </table>
          </div>
        ))
      )}
      <div className={PANEL}>
        <h2 className="mb-2 text-sm font-semibold">Loaded models</h2>
        {snapshot.loaded.length === 0 ? (
          <p className={MUTED}>none (or /api/ps not polled yet)</p>
        ) : (
          <ul className="space-y-1 text-sm" data-testid="live-loaded">
            {snapshot.loaded.map((m) => (
              <li key={`${m.node ?? ""}/${m.name}`}>
                {m.name}
                {m.node ? ` on ${m.node}` : ""} · {bytes(m.size_vram)} VRAM · unloads in {duration(m.expires_in_ms)}
              </li>
            ))}
          </ul>
        )}
      </div>
      <p className={MUTED}>
        Phases marked ? are estimates: before the first byte the proxy infers loading, queued or prefill. Tokens are counted as
        they stream ({compact(snapshot.requests.reduce((n, r) => n + r.tokens, 0))} so far).
      </p>
    </div>
  );
}
