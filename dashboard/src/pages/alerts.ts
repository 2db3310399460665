// Types of GET /api/alerts and the pure helpers of the Alerts page.

export interface AlertItem {
  rule: string;
  state: "pending" | "firing" | "resolved";
  labels: Record<string, string>;
  summary: string;
  value: number;
  threshold: number;
  active_since: string | null;
  started_at: string | null;
  ended_at: string | null;
  silenced_by: string | null;
}

export interface SilenceItem {
  id: string;
  rule: string | null;
  matchers: Record<string, string>;
  comment: string;
  created_at: number;
  expires_at: number;
}

export interface RuleItem {
  name: string;
  summary: string;
  enabled: boolean;
  threshold: number | null;
  window_s: number;
  for_s: number;
  resolve_after_s: number;
  min_count: number;
}

export interface AlertsResponse {
  firing: AlertItem[];
  pending: AlertItem[];
  history: AlertItem[];
  silences: SilenceItem[];
  rules: RuleItem[];
}

/** "model=llama3.2, gpu=0" without the severity (shown apart). */
export function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .filter(([k]) => k !== "severity")
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** "a=b, c=d" -> {a: "b", c: "d"}; null when a part is not name=value. */
export function parseMatchers(text: string): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) return null;
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Seconds as "45s", "10m", "2h", "7d". */
export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return "—";
  if (s === 0) return "0";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]] as const) {
    if (s >= size && s % size === 0) return `${s / size}${unit}`;
  }
  return `${s}s`;
}

/** A rule's value as people read it: rates as percents, the rest as numbers. */
export function ruleValue(rule: string, v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  if (rule === "error_rate" || rule === "decode_regression") return `${(v * 100).toFixed(1)}%`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
