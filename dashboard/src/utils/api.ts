// The one fetch wrapper: JSON in, ApiError out (status, message, field).

export class ApiError extends Error {
  status: number;
  field?: string;
  constructor(status: number, message: string, field?: string) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

export type Query = Record<string, string | number | undefined | null>;

export function buildUrl(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

export async function apiFetch<T>(path: string, query: Query = {}, init: RequestInit = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(buildUrl(path, query), { credentials: "same-origin", ...init });
  } catch (error) {
    throw new ApiError(0, `network error: ${(error as Error).message}`);
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok && !(path === "/api/health" && response.status === 503)) {
    const data = (body ?? {}) as { error?: string; field?: string };
    throw new ApiError(response.status, data.error || response.statusText || "request failed", data.field);
  }
  return body as T;
}

export async function login(token: string): Promise<void> {
  await apiFetch("/api/stats/login", {}, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token }),
  });
}
