import { useState } from "react";
import { useFetchStats } from "../hooks/useFetchStats";
import { Failure, Loading } from "../components/StateBox";
import { TableHead } from "../components/TableHead";
import { BUTTON, INPUT, MUTED, PANEL } from "../components/ui";
import { apiFetch } from "../utils/api";
import { timestamp } from "../utils/formatters";
import { labelText, parseMatchers, ruleValue, seconds, type AlertItem, type AlertsResponse } from "./alerts";

const ROW = "border-t border-slate-100 dark:border-slate-800";
const CELL = "px-3 py-1.5";
const BADGE: Record<string, string> = {
  critical: "bg-red-100 text-red-700 dark:bg-red-900/40 dark:text-red-300",
  warning: "bg-amber-100 text-amber-800 dark:bg-amber-900/40 dark:text-amber-300",
};

function AlertTable({ items, testid, when }: { items: AlertItem[]; testid: string; when: "started_at" | "active_since" | "ended_at" }) {
  if (!items.length) return <p className={`${MUTED} px-3 py-2`} data-testid={`${testid}-empty`}>none</p>;
  return (
    <table className="w-full text-left text-sm" data-testid={testid}>
      <TableHead columns={["rule", "severity", "labels", "value", "threshold", when === "ended_at" ? "resolved" : "since", "silenced"]} />
      <tbody>
        {items.map((a) => {
          const severity = a.labels.severity ?? "";
          return (
            <tr key={`${a.rule}|${labelText(a.labels)}|${a[when]}`} className={ROW}>
              <td className={`${CELL} font-medium`} title={a.summary} data-col="rule">{a.rule}</td>
              <td className={CELL}>
                <span className={`rounded px-1.5 py-0.5 text-xs ${BADGE[severity] ?? ""}`}>{severity || "—"}</span>
              </td>
              <td className={`${CELL} break-all`}>{labelText(a.labels) || "—"}</td>
              <td className={`${CELL} tabular-nums`}>{ruleValue(a.rule, a.value)}</td>
              <td className={`${CELL} tabular-nums`}>{ruleValue(a.rule, a.threshold)}</td>
              <td className={`${CELL} whitespace-nowrap`}>{timestamp(a[when])}</td>
              <td className={CELL}>{a.silenced_by ? "yes" : ""}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function SilenceForm({ rules, onDone }: { rules: string[]; onDone: () => void }) {
  const [rule, setRule] = useState("");
  const [matchers, setMatchers] = useState("");
  const [hours, setHours] = useState("2");
  const [error, setError] = useState("");
  return (
    <form
      className="flex flex-wrap items-end gap-2 px-3 py-2"
      data-testid="silence-form"
      onSubmit={async (e) => {
        e.preventDefault();
        const parsed = parseMatchers(matchers);
        if (parsed === null) return setError("matchers are name=value, comma-separated");
        try {
          await apiFetch("/api/alerts/silences", {}, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ rule: rule || null, matchers: parsed, duration_s: Number(hours) * 3600 }),
          });
          setError("");
          setMatchers("");
          onDone();
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <select aria-label="silence rule" className={INPUT} value={rule} onChange={(e) => setRule(e.target.value)} data-testid="silence-rule">
        <option value="">any rule</option>
        {rules.map((r) => (
          <option key={r} value={r}>{r}</option>
        ))}
      </select>
      <input aria-label="silence matchers" placeholder="model=llama3.2:latest" className={INPUT} value={matchers} onChange={(e) => setMatchers(e.target.value)} />
      <input aria-label="silence hours" type="number" min="0.1" step="0.1" className={`${INPUT} w-20`} value={hours} onChange={(e) => setHours(e.target.value)} />
      <span className={MUTED}>hours</span>
      <button type="submit" className={BUTTON} data-testid="silence-add">silence</button>
      {error ? <span className="text-sm text-red-600" role="alert">{error}</span> : null}
    </form>
  );
}

export default function Alerts() {
  const [version, setVersion] = useState(0);
  const alerts = useFetchStats<AlertsResponse>("/api/alerts", { history: 50, v: version });
  if (alerts.error) return <Failure error={alerts.error} />;
  if (!alerts.data) return <Loading />;
  const { firing, pending, history, silences, rules } = alerts.data;
  const refresh = () => setVersion((v) => v + 1);
  return (
    <div className="space-y-3">
      <section className={`${PANEL} overflow-x-auto p-0`}>
        <h2 className="px-3 pt-3 font-semibold">Firing ({firing.length})</h2>
        <AlertTable items={firing} testid="alerts-firing" when="started_at" />
      </section>
      <section className={`${PANEL} overflow-x-auto p-0`}>
        <h2 className="px-3 pt-3 font-semibold">Pending ({pending.length})</h2>
        <AlertTable items={pending} testid="alerts-pending" when="active_since" />
      </section>
      <section className={`${PANEL} overflow-x-auto p-0`}>
        <h2 className="px-3 pt-3 font-semibold">Silences ({silences.length})</h2>
        <SilenceForm rules={rules.map((r) => r.name)} onDone={refresh} />
        {silences.length ? (
          <table className="w-full text-left text-sm" data-testid="silences">
            <TableHead columns={["rule", "matchers", "comment", "expires", ""]} />
            <tbody>
              {silences.map((s) => (
                <tr key={s.id} className={ROW}>
                  <td className={CELL}>{s.rule ?? "any"}</td>
                  <td className={`${CELL} break-all`}>{labelText(s.matchers) || "—"}</td>
                  <td className={CELL}>{s.comment}</td>
                  <td className={`${CELL} whitespace-nowrap`}>{timestamp(new Date(s.expires_at * 1000).toISOString())}</td>
                  <td className={CELL}>
                    <button
                      type="button"
                      className={BUTTON}
                      onClick={async () => {
                        await apiFetch(`/api/alerts/silences/${encodeURIComponent(s.id)}`, {}, { method: "DELETE" });
                        refresh();
                      }}
                    >
                      remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </section>
      <section className={`${PANEL} overflow-x-auto p-0`}>
        <h2 className="px-3 pt-3 font-semibold">Recently resolved</h2>
        <AlertTable items={history} testid="alerts-history" when="ended_at" />
      </section>
      <section className={`${PANEL} overflow-x-auto p-0`}>
        <h2 className="px-3 pt-3 font-semibold">Rules</h2>
        <table className="w-full text-left text-sm" data-testid="alert-rules">
          <TableHead columns={["rule", "threshold", "window", "for", "resolve after", "min requests", "on"]} />
          <tbody>
            {rules.map((r) => (
              <tr key={r.name} className={ROW}>
                <td className={`${CELL} font-medium`} title={r.summary}>{r.name}</td>
                <td className={`${CELL} tabular-nums`}>{ruleValue(r.name, r.threshold)}</td>
                <td className={CELL}>{seconds(r.window_s)}</td>
                <td className={CELL}>{seconds(r.for_s)}</td>
                <td className={CELL}>{seconds(r.resolve_after_s)}</td>
                <td className={`${CELL} tabular-nums`}>{r.min_count}</td>
                <td className={CELL}>{r.enabled ? "on" : "off"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
