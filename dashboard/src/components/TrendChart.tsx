// Generic, domain-free line chart over rows the API returned.
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { ChartRow } from "../utils/series";
import { COLORS, MUTED, PANEL } from "./ui";

export interface SeriesSpec {
  key: string;
  label: string;
}

export default function TrendChart({
  title,
  rows,
  series,
  format,
  height = 220,
}: {
  title: string;
  rows: ChartRow[];
  series: SeriesSpec[];
  format: (v: number | null) => string;
  height?: number;
}) {
  return (
    <div className={PANEL} data-testid={`chart-${title}`}>
      <div className={`${MUTED} mb-2`}>{title}</div>
      <ResponsiveContainer width="100%" height={height}>
        <LineChart data={rows} margin={{ top: 4, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" strokeOpacity={0.3} />
          <XAxis dataKey="time" tick={{ fontSize: 11 }} minTickGap={24} />
          <YAxis tick={{ fontSize: 11 }} width={56} tickFormatter={(v: number) => format(v)} />
          <Tooltip formatter={(v) => format(typeof v === "number" ? v : null)} />
          {series.length > 1 ? <Legend /> : null}
          {series.map((s, i) => (
            <Line key={s.key} type="monotone" dataKey={s.key} name={s.label} stroke={COLORS[i % COLORS.length]} dot={{ r: 2 }} connectNulls={false} isAnimationActive={false} />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}
