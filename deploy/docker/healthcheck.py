"""Container health probe: exit 0 when GET /api/health answers 200 (healthy or degraded).

Used by the Dockerfile's HEALTHCHECK and by docker-compose. The slim image has no curl, and the
probe must follow PROXY_LISTEN, so it is a few lines of standard-library Python.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_LISTEN = "0.0.0.0:11435"
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def health_url(listen: str) -> str:
    """The loopback URL of /api/health for a PROXY_LISTEN value such as `0.0.0.0:11435`."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/api/health"


def main() -> int:
    url = health_url(os.environ.get("PROXY_LISTEN", DEFAULT_LISTEN))
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    token = os.environ.get("ADMIN_TOKEN", "")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=4) as response:
            body = response.read(65536).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
