// One table of metric -> formatter. null/undefined/NaN always render as "—".

export const DASH = "—";

const isMissing = (v: unknown): v is null | undefined => v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v));

export function compact(v: number | null | undefined): string {
  if (isMissing(v)) return DASH;
  const abs = Math.abs(v);
  if (abs < 1000) return String(Math.round(v * 10) / 10);
  const units: [number, string][] = [[1e9, "B"], [1e6, "M"], [1e3, "k"]];
  for (const [size, suffix] of units) {
    if (abs >= size) return `${(v / size).toFixed(1).replace(/\.0$/, "")}${suffix}`;
  }
  return String(v);
}

export function duration(ms: number | null | undefined): string {
  if (isMissing(ms)) return DASH;
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

export function rate(v: number | null | undefined): string {
  return isMissing(v) ? DASH : `${v < 10 ? v.toFixed(1) : Math.round(v)} tok/s`;
}

export function bytes(v: number | null | undefined): string {
  if (isMissing(v)) return DASH;
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = v;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function percent(v: number | null | undefined): string {
  return isMissing(v) ? DASH : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
}

export function hours(v: number | null | undefined): string {
  if (isMissing(v)) return DASH;
  if (v < 1) return `${Math.round(v * 60)} min`;
  if (v < 48) return `${v.toFixed(1)} h`;
  return `${(v / 24).toFixed(1)} d`;
}

export function timestamp(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : d.toISOString().replace("T", " ").slice(0, 19);
}

export function clock(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
}

export const FORMATTERS = {
  tokens: compact,
  requests: compact,
  latency: duration,
  ttft: duration,
  throughput: rate,
  bytes,
  errorRate: percent,
  uptime: hours,
} as const;
