// Generic bar chart: one bar per row (e.g. per model), values exactly as the API gave them.
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { ChartRow } from "../utils/series";
import { COLORS, MUTED, PANEL } from "./ui";

export default function BarCompare({ title, rows, dataKey, format, color = 0 }: {
  title: string;
  rows: ChartRow[];
  dataKey: string;
  format: (v: number | null) => string;
  color?: number;
}) {
  return (
    <div className={PANEL} data-testid={`bars-${title}`}>
      <div className={`${MUTED} mb-2`}>{title}</div>
      <ResponsiveContainer width="100%" height={200}>
        <BarChart data={rows}>
          <CartesianGrid strokeDasharray="3 3" strokeOpacity={0.3} />
          <XAxis dataKey="name" tick={{ fontSize: 11 }} />
          <YAxis tick={{ fontSize: 11 }} width={56} tickFormatter={(v: number) => format(v)} />
          <Tooltip formatter={(v) => format(typeof v === "number" ? v : null)} />
          <Bar dataKey={dataKey} fill={COLORS[color % COLORS.length]} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
