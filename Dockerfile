# syntax=docker/dockerfile:1
# ollama-local-serve: the metering proxy, its stats API and the built dashboard in one image.
#
#   docker build -t ollama-local-serve .
#   docker run --rm -p 11435:11435 -e OLLAMA_UPSTREAM=http://host.docker.internal:11434 \
#       --add-host host.docker.internal:host-gateway ollama-local-serve
#
# Three stages: Node builds the dashboard, a Python stage builds the wheel and a virtualenv,
# and the runtime stage copies only the virtualenv (no compilers, no Node, no pip cache).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG NODE_IMAGE=node:22.12.0-bookworm-slim

# --- 1. dashboard: Vite writes the bundle into ../ollama_proxy/_dashboard -------------------
FROM ${NODE_IMAGE} AS dashboard
WORKDIR /src/dashboard
# The lock file first, so the install is cached until the dependencies change
# (install-deps.sh: npm ci, or npm install where npm 11's lock file quirk trips npm ci).
COPY dashboard/package.json dashboard/package-lock.json dashboard/install-deps.sh ./
RUN sh install-deps.sh
COPY dashboard/ ./
RUN mkdir -p /src/ollama_proxy/_dashboard && npm run build \
    && test -f /src/ollama_proxy/_dashboard/index.html

# --- 2. build: the wheel (carrying the dashboard and the schemas) into a virtualenv ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY ollama_proxy/ ollama_proxy/
COPY --from=dashboard /src/ollama_proxy/_dashboard/ ollama_proxy/_dashboard/
# `fast` adds uvloop. Every dependency ships manylinux wheels, so no compiler is needed here.
RUN /opt/venv/bin/pip install --no-compile ".[fast]" \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib \
    && /opt/venv/bin/ollama-proxy --version

# --- 3. runtime -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="ollama-local-serve" \
      org.opencontainers.image.description="Transparent metering reverse proxy for Ollama" \
      org.opencontainers.image.licenses="MIT"

# A fixed uid so bind-mounted data directories can be chowned on the host (10001:10001).
RUN groupadd --system --gid 10001 ollama-proxy \
    && useradd --system --uid 10001 --gid ollama-proxy --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin ollama-proxy \
    && mkdir -p /data \
    && chown ollama-proxy:ollama-proxy /data

COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/healthcheck.py /opt/ollama-proxy/healthcheck.py

# Container defaults; every one is an ordinary setting (README "Settings") and can be overridden.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_PROFILE=prod \
    PROXY_LISTEN=0.0.0.0:11435 \
    OLLAMA_UPSTREAM=http://ollama:11434 \
    SQLITE_PATH=/data/ollama-proxy.db \
    JOURNAL_DIR=/data/journal

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 11435

# python, not curl: the slim image has no curl. 200 = healthy or degraded, 503 = unhealthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/opt/ollama-proxy/healthcheck.py"]

ENTRYPOINT ["ollama-proxy"]
CMD ["serve"]
