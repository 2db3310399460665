// Where the time of recent requests went, from Ollama's own timings on each record:
// queue wait (estimate), model load, prompt eval, generation. Requests without timings
// (errors, cancels, OpenAI streams without usage) are left out, not drawn as zeros.
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { COLORS, MUTED, PANEL } from "../components/ui";
import { duration } from "../utils/formatters";
import type { LogRow } from "./types";

export interface BreakdownRow {
  name: string;
  queue: number;
  load: number;
  prompt: number;
  generation: number;
}

export function breakdownRows(logs: LogRow[]): BreakdownRow[] {
  return logs
    .filter((l) => typeof l.eval_duration_ms === "number")
    .map((l) => ({
      name: `${String(l.model)} ${String(l.timestamp).slice(11, 19)}`,
      queue: Number(l.queue_wait_ms ?? 0),
      load: Number(l.load_duration_ms ?? 0),
      prompt: Number(l.prompt_eval_duration_ms ?? 0),
      generation: Number(l.eval_duration_ms ?? 0),
    }))
    .reverse();
}

export default function Breakdown({ logs }: { logs: LogRow[] }) {
  const rows = breakdownRows(logs);
  if (!rows.length) return null;
  const parts = [
    ["queue", "queue wait"],
    ["load", "model load"],
    ["prompt", "prompt eval"],
    ["generation", "generation"],
  ] as const;
  return (
    <div className={PANEL} data-testid="breakdown">
      <div className={`${MUTED} mb-2`}>Latency breakdown of recent requests (Ollama timings)</div>
      <ResponsiveContainer width="100%" height={240}>
        <BarChart data={rows}>
          <CartesianGrid strokeDasharray="3 3" strokeOpacity={0.3} />
          <XAxis dataKey="name" tick={false} />
          <YAxis tick={{ fontSize: 11 }} width={56} tickFormatter={(v: number) => duration(v)} />
          <Tooltip formatter={(v) => duration(typeof v === "number" ? v : null)} />
          <Legend />
          {parts.map(([key, label], i) => (
            <Bar key={key} dataKey={key} name={label} stackId="t" fill={COLORS[i]} isAnimationActive={false} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
