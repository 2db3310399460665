"""A small ClickHouse HTTP interface over chDB, for the aiochclient path in tests.

Enough of the protocol for the store: the query in the URL or the body (INSERT data in the
body after a `query` parameter), `param_<name>` bound parameters, errors as HTTP 500.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

_LOCK = threading.Lock()


def create_shim_app(path: str) -> web.Application:
    from chdb import session as chdb_session

    session = chdb_session.Session(path)

    def run(sql: str, params: dict[str, str]) -> str:
        with _LOCK:
            return str(session.query(sql, "JSONEachRow", params=params))

    async def handle(request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        query = request.query.get("query")
        sql = f"{query}\n{body}" if query else body
        params = {k[6:]: v for k, v in request.query.items() if k.startswith("param_")}
        try:
            out = await asyncio.to_thread(run, sql, params)
        except Exception as exc:  # ClickHouse answers errors as text with a 5xx
            return web.Response(status=500, text=f"Code: 1. DB::Exception: {exc}")
        return web.Response(text=out, content_type="text/plain")

    async def close(app: web.Application) -> None:
        session.close()

    app = web.Application(client_max_size=0)
    app.router.add_route("*", "/", handle)
    app.on_cleanup.append(close)
    return app


def main() -> None:
    """python -m tests.store.chdb_http PATH PORT: serve in its own process.

    chDB allows one data path per process, so the shim lives apart from the test process.
    """
    import sys

    web.run_app(create_shim_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), print=None)


if __name__ == "__main__":
    main()
