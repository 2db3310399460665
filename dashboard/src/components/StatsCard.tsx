import { MUTED, PANEL } from "./ui";

export function StatsCard({ label, value, hint, testId }: { label: string; value: string; hint?: string; testId?: string }) {
  return (
    <div className={PANEL} data-testid={testId}>
      <div className={MUTED}>{label}</div>
      <div className="mt-1 text-2xl font-semibold tabular-nums" data-value>
        {value}
      </div>
      {hint ? <div className={`${MUTED} mt-1`}>{hint}</div> : null}
    </div>
  );
}
