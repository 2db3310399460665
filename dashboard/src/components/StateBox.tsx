import type { ApiError } from "../utils/api";
import { MUTED, PANEL } from "./ui";

export function Loading() {
  return <div className={`${PANEL} ${MUTED}`}>Loading…</div>;
}

export function Empty({ children }: { children?: React.ReactNode }) {
  return (
    <div className={`${PANEL} ${MUTED}`} data-testid="empty">
      {children ?? "No traffic yet: point a client at :11435 (OLLAMA_HOST=127.0.0.1:11435)."}
    </div>
  );
}

export function Failure({ error }: { error: ApiError }) {
  const what = error.status === 0 ? "The proxy is not answering." : error.status === 503 ? "The store is down." : error.message;
  return (
    <div className={`${PANEL} text-sm text-red-600 dark:text-red-400`} role="alert">
      {what}
    </div>
  );
}
