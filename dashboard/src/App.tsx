import { lazy, Suspense, useEffect, useRef, useState } from "react";
import { Header, PAGES, type Page } from "./components/Header";
import { Loading } from "./components/StateBox";
import { BUTTON, INPUT, MUTED, PANEL } from "./components/ui";
import { useFetchStats } from "./hooks/useFetchStats";
import { login } from "./utils/api";

// Pages load on demand: the first paint needs neither the tables nor Recharts.
const VIEWS: Record<Page, React.LazyExoticComponent<() => React.JSX.Element>> = {
  overview: lazy(() => import("./pages/Overview")),
  live: lazy(() => import("./pages/Live")),
  performance: lazy(() => import("./pages/Performance")),
  logs: lazy(() => import("./pages/Logs")),
  models: lazy(() => import("./pages/Models")),
  clients: lazy(() => import("./pages/Clients")),
  alerts: lazy(() => import("./pages/Alerts")),
  nodes: lazy(() => import("./pages/Nodes")),
};

function pageFromHash(): Page {
  const name = window.location.hash.replace(/^#\/?/, "") as Page;
  return PAGES.includes(name) ? name : "overview";
}

function Login() {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  return (
    <form
      className={`${PANEL} mx-auto mt-24 max-w-sm space-y-3`}
      data-testid="login"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await login(token);
          window.location.reload();
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <h1 className="text-lg font-semibold">ollama-local-serve</h1>
      <p className={MUTED}>This proxy asks for its admin token (ADMIN_TOKEN).</p>
      <input type="password" aria-label="admin token" className={`${INPUT} w-full`} value={token} onChange={(e) => setToken(e.target.value)} />
      {error ? <p className="text-sm text-red-600">{error}</p> : null}
      <button type="submit" className={BUTTON}>
        Sign in
      </button>
    </form>
  );
}

export default function App() {
  const [page, setPage] = useState<Page>(pageFromHash);
  const probe = useFetchStats<unknown>("/api/stats/instances");
  // Without a page in the address, the landing page is Live while something is in flight.
  const landing = useRef(Boolean(window.location.hash));
  const current = useFetchStats<{ in_flight: number }>(landing.current ? null : "/api/stats/current");
  useEffect(() => {
    if (landing.current || !current.data) return;
    landing.current = true;
    if (current.data.in_flight > 0 && !window.location.hash) setPage("live");
  }, [current.data]);
  useEffect(() => {
    const onHash = () => setPage(pageFromHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  if (probe.error?.status === 401) return <Login />;
  const View = VIEWS[page];
  return (
    <div className="min-h-screen">
      <Header
        page={page}
        setPage={(p) => {
          window.location.hash = `/${p}`;
          setPage(p);
        }}
      />
      <main className="mx-auto max-w-7xl px-4 py-4" data-testid={`page-${page}`}>
        <Suspense fallback={<Loading />}>
          <View />
        </Suspense>
      </main>
    </div>
  );
}
